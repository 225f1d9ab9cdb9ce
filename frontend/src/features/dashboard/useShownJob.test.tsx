import { QueryClientProvider } from "@tanstack/react-query";
import { act, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { api } from "../../api/endpoints";
import type { ProgressHandlers } from "../../api/progress";
import { queryClient } from "../../api/queryClient";
import { appStore } from "../../store";
import { makeDetail, makeJob, showProject } from "../../test/factories";
import { RenderHistory } from "./RenderHistory";
import { useShownJob } from "./useShownJob";

// The live connection's handlers, as the store's real slice hands them over (no socket in jsdom).
const live = vi.hoisted(() => ({ handlers: [] as ProgressHandlers[] }));
vi.mock("../../api/progress", () => ({
  ProgressClient: class {
    constructor(_options: unknown, handlers: ProgressHandlers) {
      live.handlers.push(handlers);
    }
    start() {}
    stop() {}
  },
}));

const initial = appStore.getState();
afterEach(() => {
  vi.restoreAllMocks();
  live.handlers.length = 0;
  appStore.setState(initial, true);
});

function Shown() {
  const job = useShownJob();
  return (
    <output data-testid="shown" data-job-id={job?.id ?? ""} data-status={job?.status} data-progress={job?.progress} />
  );
}

function mount() {
  showProject(makeDetail([]));
  appStore.setState({ token: "tok" });
  return render(
    <QueryClientProvider client={queryClient}>
      <RenderHistory />
      <Shown />
    </QueryClientProvider>,
  );
}

const shown = () => screen.getByTestId("shown");
const page = (...items: ReturnType<typeof makeJob>[]) => ({ items, total: items.length, limit: 10, offset: 0 });

describe("useShownJob", () => {
  it("follows the watched job's live events", async () => {
    vi.spyOn(api, "listRenderJobs").mockResolvedValue(page(makeJob({ status: "queued" })));
    mount();
    await act(() => appStore.getState().loadJobs("p1"));
    await vi.waitFor(() => expect(shown()).toHaveAttribute("data-status", "queued"));
    expect(live.handlers).toHaveLength(1);
    act(() => live.handlers[0]?.onJob(makeJob({ status: "generating", progress: 0.4, seq: 1 })));
    await vi.waitFor(() => expect(shown()).toHaveAttribute("data-progress", "0.4"));
    expect(shown()).toHaveAttribute("data-status", "generating");
  });

  it("shows an older job chosen in the history", async () => {
    vi.spyOn(api, "listRenderJobs").mockResolvedValue(
      page(
        makeJob({ id: "j2", status: "generating", progress: 0.2 }),
        makeJob({ id: "j1", kind: "variations", status: "completed", progress: 1 }),
      ),
    );
    mount();
    await act(() => appStore.getState().loadJobs("p1"));
    await vi.waitFor(() => expect(shown()).toHaveAttribute("data-job-id", "j2"));
    const [, older] = await screen.findAllByRole("button");
    // The older job made new takes, and the list says so (of it alone).
    expect(screen.getAllByText("new takes")).toHaveLength(1);
    expect(older).toHaveTextContent("new takes");
    fireEvent.click(older as HTMLElement);
    await vi.waitFor(() => expect(shown()).toHaveAttribute("data-job-id", "j1"));
    expect(shown()).toHaveAttribute("data-status", "completed");
  });

  it("never shows a lower figure when the history is fetched a step behind the socket", async () => {
    const listed = vi.spyOn(api, "listRenderJobs").mockResolvedValue(page(makeJob({ status: "queued", seq: 0 })));
    mount();
    await act(() => appStore.getState().loadJobs("p1"));
    act(() => live.handlers[0]?.onJob(makeJob({ status: "generating", progress: 0.6, seq: 3 })));
    await vi.waitFor(() => expect(shown()).toHaveAttribute("data-progress", "0.6"));

    // The list was read before the last events: an older seq, then a tick of the same seq lower.
    listed.mockResolvedValue(page(makeJob({ status: "generating", progress: 0.3, seq: 2 })));
    await act(() => appStore.getState().loadJobs("p1"));
    listed.mockResolvedValue(page(makeJob({ status: "generating", progress: 0.5, seq: 3 })));
    await act(() => queryClient.refetchQueries({ queryKey: ["render-jobs", "p1"] }));
    expect(listed).toHaveBeenCalledTimes(3);
    expect(shown()).toHaveAttribute("data-progress", "0.6");
    // The list's finished copy replaces the live one.
    listed.mockResolvedValue(page(makeJob({ status: "completed", progress: 1, seq: 5, captions_url: "/c.vtt" })));
    await act(() => appStore.getState().loadJobs("p1"));
    await vi.waitFor(() => expect(shown()).toHaveAttribute("data-status", "completed"));
    expect(shown()).toHaveAttribute("data-progress", "1");
  });
});
