import { act, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../../api/client";
import { api } from "../../api/endpoints";
import { appStore } from "../../store";
import { makeDetail, makeModel, makeSegment } from "../../test/factories";
import { WithQueries } from "../../test/queries";
import { EditorPage } from "./EditorPage";
import { cachedDetail } from "./queries";

const initial = appStore.getState();
afterEach(() => {
  vi.restoreAllMocks();
  appStore.setState(initial, true);
});

const A = makeSegment({ id: "a", prompt: "first shot", duration: 2 });

describe("<EditorPage> + Add segment", () => {
  it("a failed add shows its reason in the editor's banner until dismissed; the next add succeeds", async () => {
    vi.spyOn(api, "getProject").mockResolvedValue(makeDetail([A]));
    vi.spyOn(api, "listModels").mockResolvedValue([makeModel()]);
    vi.spyOn(api, "listRenderJobs").mockResolvedValue({ items: [], total: 0, limit: 20, offset: 0 });
    const create = vi
      .spyOn(api, "createSegment")
      .mockRejectedValueOnce(new ApiError(403, "You may not edit this project"))
      .mockResolvedValueOnce(makeSegment({ id: "n", position: 1 }));
    render(<EditorPage projectId="p1" />, { wrapper: WithQueries });
    const add = await screen.findByRole("button", { name: "+ Add segment" });

    await act(async () => {
      fireEvent.click(add);
    });
    expect(await screen.findByRole("alert")).toHaveTextContent(
      "Could not add a segment: You may not edit this project",
    );
    expect(cachedDetail("p1")?.segments.map((s) => s.id)).toEqual(["a"]);
    fireEvent.click(screen.getByRole("button", { name: "Dismiss error" }));
    await vi.waitFor(() => expect(screen.queryByRole("alert")).not.toBeInTheDocument());

    await act(async () => {
      fireEvent.click(add);
    });
    await vi.waitFor(() => expect(cachedDetail("p1")?.segments.map((s) => s.id)).toEqual(["a", "n"]));
    expect(create).toHaveBeenCalledTimes(2);
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
  });
});
