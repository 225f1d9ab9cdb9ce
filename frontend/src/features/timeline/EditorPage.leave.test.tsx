import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../../api/client";
import { api } from "../../api/endpoints";
import { navigate, usePathname } from "../../components/router";
import { appStore } from "../../store";
import { makeDetail, makeModel, makeSegment } from "../../test/factories";
import { EditorPage, LEAVE_UNSAVED } from "./EditorPage";

const initial = appStore.getState();
afterEach(() => {
  vi.restoreAllMocks();
  appStore.setState(initial, true);
  navigate("/", true);
});

const A = makeSegment({ id: "a", prompt: "first shot" });

async function openEditor() {
  navigate("/projects/p1", true);
  vi.spyOn(api, "getProject").mockResolvedValue(makeDetail([A]));
  vi.spyOn(api, "listModels").mockResolvedValue([makeModel()]);
  vi.spyOn(api, "listRenderJobs").mockResolvedValue({ items: [], total: 0, limit: 10, offset: 0 });
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <EditorPage projectId="p1" />
    </QueryClientProvider>,
  );
  const inspector = await screen.findByRole("form", { name: "Segment inspector" });
  return within(inspector).getByLabelText("Prompt");
}

describe("<EditorPage> going back to the project list", () => {
  it("sends a pending edit first, then leaves without asking", async () => {
    const prompt = await openEditor();
    const saved = vi.spyOn(api, "updateSegment").mockResolvedValue({ ...A, prompt: "typed", version: 2 });
    const confirm = vi.spyOn(window, "confirm");
    fireEvent.change(prompt, { target: { value: "typed" } });
    await act(async () => {
      fireEvent.click(screen.getByRole("button", { name: "← Projects" }));
    });
    await vi.waitFor(() => expect(window.location.pathname).toBe("/"));
    expect(saved).toHaveBeenCalledWith("a", { prompt: "typed" }, 1);
    expect(confirm).not.toHaveBeenCalled();
  });

  it("asks when an edit cannot be saved, and stays when told to", async () => {
    const prompt = await openEditor();
    vi.spyOn(api, "updateSegment").mockRejectedValue(new ApiError(0, "Cannot reach the server."));
    const confirm = vi.spyOn(window, "confirm").mockReturnValue(false);
    fireEvent.change(prompt, { target: { value: "typed offline" } });
    await act(async () => {
      fireEvent.click(screen.getByRole("button", { name: "← Projects" }));
    });
    await vi.waitFor(() => expect(confirm).toHaveBeenCalledWith(LEAVE_UNSAVED));
    expect(window.location.pathname).toBe("/projects/p1");
    expect(prompt).toHaveValue("typed offline");

    confirm.mockReturnValue(true);
    await act(async () => {
      fireEvent.click(screen.getByRole("button", { name: "← Projects" }));
    });
    await vi.waitFor(() => expect(window.location.pathname).toBe("/"));
  });
});

/** The path the app shows (the address bar may be ahead of it while leaving is decided). */
function Shown() {
  return <span data-testid="shown">{usePathname()}</span>;
}

describe("<EditorPage> and the browser's Back button", () => {
  // What Back does: the address is already the previous one when popstate fires.
  function back() {
    window.history.replaceState(null, "", "/");
    window.dispatchEvent(new PopStateEvent("popstate"));
  }

  it("keeps the editor on screen until a pending edit is saved, then leaves without asking", async () => {
    const prompt = await openEditor();
    render(<Shown />);
    let answer: (segment: typeof A) => void = () => {};
    const saved = vi.spyOn(api, "updateSegment").mockReturnValue(new Promise((resolve) => (answer = resolve)));
    const confirm = vi.spyOn(window, "confirm");
    fireEvent.change(prompt, { target: { value: "typed" } });
    await act(async () => back());
    await vi.waitFor(() => expect(saved).toHaveBeenCalledWith("a", { prompt: "typed" }, 1));
    expect(screen.getByTestId("shown")).toHaveTextContent("/projects/p1");
    await act(async () => answer({ ...A, prompt: "typed", version: 2 }));
    await vi.waitFor(() => expect(screen.getByTestId("shown")).toHaveTextContent(/^\/$/));
    expect(confirm).not.toHaveBeenCalled();
  });

  it("asks when an edit cannot be saved; staying puts the editor's address back", async () => {
    const prompt = await openEditor();
    vi.spyOn(api, "updateSegment").mockRejectedValue(new ApiError(0, "Cannot reach the server."));
    const confirm = vi.spyOn(window, "confirm").mockReturnValue(false);
    fireEvent.change(prompt, { target: { value: "typed offline" } });
    await act(async () => back());
    await vi.waitFor(() => expect(confirm).toHaveBeenCalledWith(LEAVE_UNSAVED));
    await vi.waitFor(() => expect(window.location.pathname).toBe("/projects/p1"));
    expect(prompt).toHaveValue("typed offline");
  });
});
