import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { api } from "../../api/endpoints";
import type { SegmentCreate } from "../../api/types";
import { appStore } from "../../store";
import { makeDetail, makeModel, makeSegment } from "../../test/factories";
import { EditorPage } from "./EditorPage";
import { cachedDetail } from "./queries";

const initial = appStore.getState();
afterEach(() => {
  vi.restoreAllMocks();
  appStore.setState(initial, true);
});

const A = makeSegment({ id: "a", prompt: "first shot", duration: 2, seed: 11 });
const B = makeSegment({ id: "b", prompt: "second shot", duration: 1 });

describe("<EditorPage> the inspector's Delete button", () => {
  it("deletes the way the Delete key does: Undo brings the segment back at its place", async () => {
    let detail = makeDetail([A, B]);
    vi.spyOn(api, "getProject").mockImplementation(async () => detail);
    vi.spyOn(api, "listModels").mockResolvedValue([makeModel()]);
    vi.spyOn(api, "listRenderJobs").mockResolvedValue({ items: [], total: 0, limit: 20, offset: 0 });
    const deleted = vi.spyOn(api, "deleteSegment").mockImplementation(async () => {
      detail = makeDetail([B]);
    });
    const created = vi.spyOn(api, "createSegment").mockImplementation(async (_project, body) => {
      const back = { ...A, id: "a2", ...(body as SegmentCreate) } as typeof A;
      detail = makeDetail([back, B]);
      return back;
    });
    const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    render(
      <QueryClientProvider client={client}>
        <EditorPage projectId="p1" />
      </QueryClientProvider>,
    );

    const inspector = await screen.findByRole("form", { name: "Segment inspector" });
    expect(within(inspector).getByLabelText("Prompt")).toHaveValue("first shot");
    fireEvent.click(within(inspector).getByRole("button", { name: "Delete" }));
    const dialog = screen.getByRole("alertdialog");
    await act(async () => {
      fireEvent.click(dialog.querySelector("button.danger") as HTMLButtonElement);
    });
    await vi.waitFor(() => expect(deleted).toHaveBeenCalledWith("a"));
    await vi.waitFor(() => expect(cachedDetail("p1")?.segments.map((s) => s.id)).toEqual(["b"]));
    expect(appStore.getState().undoStack.at(-1)?.label).toBe("Delete segment");

    const undo = screen.getByRole("button", { name: "Undo" });
    expect(undo).toBeEnabled();
    await act(async () => {
      fireEvent.click(undo);
    });
    await vi.waitFor(() => expect(created).toHaveBeenCalledTimes(1));
    const body = created.mock.calls[0]?.[1] as SegmentCreate;
    expect(body).toMatchObject({ prompt: "first shot", duration: 2, seed: 11, position: 0 });
    await vi.waitFor(() => expect(cachedDetail("p1")?.segments.map((s) => s.id)).toEqual(["a2", "b"]));
    expect(appStore.getState().selectedSegmentId).toBe("a2");
  });
});
