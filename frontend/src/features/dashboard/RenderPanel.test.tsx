import { QueryClientProvider } from "@tanstack/react-query";
import { act, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../../api/client";
import { api } from "../../api/endpoints";
import { queryClient } from "../../api/queryClient";
import type { RenderJob, RenderPlan } from "../../api/types";
import { appStore } from "../../store";
import { makeDetail, makeJob, makeSegment, showJob, showProject } from "../../test/factories";
import { projectKey } from "../timeline/queries";
import { jobsKey } from "./queries";
import { RenderPanel } from "./RenderPanel";

const initial = appStore.getState();
afterEach(() => {
  vi.restoreAllMocks();
  appStore.setState(initial, true);
});

/** The panel with its project's history already cached (no request leaves the test). */
function showPanel() {
  const projectId = appStore.getState().projectId;
  if (projectId && !queryClient.getQueryData(jobsKey(projectId))) {
    queryClient.setQueryData(jobsKey(projectId), { items: [], total: 0, limit: 10, offset: 0 });
  }
  return render(
    <QueryClientProvider client={queryClient}>
      <RenderPanel />
    </QueryClientProvider>,
  );
}

const done = {
  status: "completed" as const,
  progress: 1,
  segments: [],
  video_url: "/api/files/v1?sig",
  duration: 2,
};

describe("<RenderPanel>", () => {
  it("attaches the job's WebVTT as the default captions track", () => {
    showProject(makeDetail([makeSegment({ state: "ready" })]));
    showJob(makeJob({ ...done, captions_url: "/api/files/c1?sig" }));
    showPanel();
    const video = screen.getByTestId("final-video");
    const track = video.querySelector("track");
    expect(track).not.toBeNull();
    expect(track).toHaveAttribute("kind", "captions");
    expect(track).toHaveAttribute("src", "/api/files/c1?sig");
    expect(track).toHaveAttribute("default");
    expect(screen.getByTestId("captions-link")).toHaveAttribute("href", "/api/files/c1?sig");
    expect(screen.getByRole("region", { name: "Contact sheet" })).toBeInTheDocument();
  });

  it("offers no contact sheet in an empty project", () => {
    showProject(makeDetail([]));
    showJob(null);
    showPanel();
    expect(screen.queryByRole("region", { name: "Contact sheet" })).not.toBeInTheDocument();
  });

  it("lists a job's segments as that job rendered them, not as they are now", () => {
    const job = makeJob({ ...done, segments: makeJob().segments.slice(0, 1) });
    const [first] = job.segments;
    showProject(makeDetail([makeSegment({ id: "s1", prompt: "edited since" })]));
    showJob({
      ...job,
      segments: [{ ...(first as (typeof job.segments)[number]), prompt: "as rendered", model: "procedural", seed: 7 }],
    });
    showPanel();
    expect(screen.getByTestId("job-segment-prompt")).toHaveTextContent("1. as rendered");
    expect(screen.queryByText(/edited since/)).not.toBeInTheDocument();
  });

  it("shows a variations job as new takes of its segment, one row per seed", () => {
    const [first] = makeJob().segments;
    const take = (seed: number, status: "completed" | "running") => ({
      ...(first as RenderJob["segments"][number]),
      segment_id: "s1",
      position: 0,
      prompt: "a lighthouse in fog",
      model: "procedural",
      seed,
      status,
      progress: status === "completed" ? 1 : 0.5,
    });
    showProject(makeDetail([makeSegment({ id: "s1", prompt: "a lighthouse in fog", state: "ready" })]));
    showJob(
      makeJob({ kind: "variations", status: "generating", segments: [take(11, "completed"), take(22, "running")] }),
    );
    showPanel();
    expect(screen.getByTestId("job-variations-of")).toHaveTextContent("2 new takes of 1. a lighthouse in fog");
    expect(screen.getAllByTestId("job-segment-prompt").map((el) => el.textContent)).toEqual([
      "Take 1 · seed 11",
      "Take 2 · seed 22",
    ]);
    // The segment is named once, not once per take.
    expect(screen.getAllByText(/a lighthouse in fog/)).toHaveLength(1);
  });

  it("estimates the time left once two generated segments have finished, not before", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.parse("2026-01-01T00:01:00Z"));
    const rows = makeJob().segments;
    const [one, two] = rows as [(typeof rows)[number], (typeof rows)[number]];
    const third = { ...one, segment_id: "s3", position: 2 };
    const running = (done: number) =>
      makeJob({
        status: "generating",
        started_at: "2026-01-01T00:00:00Z",
        progress: 0.6,
        segments: [
          { ...one, status: "completed", progress: 1 },
          { ...two, status: done >= 2 ? "completed" : "running", progress: done >= 2 ? 1 : 0.5 },
          { ...third, status: "running", progress: 0.1 },
        ],
      });
    showProject(makeDetail([]));
    showJob(running(1));
    const view = showPanel();
    expect(screen.getByTestId("job-progress")).not.toHaveTextContent(/left/);
    act(() => showJob(running(2)));
    // 60 s for 60%: 40 s more at that pace.
    await vi.waitFor(() => expect(screen.getByTestId("job-progress")).toHaveTextContent("60% · about 40 s left"));
    view.unmount();
    vi.useRealTimers();
  });

  it("has no track without captions", () => {
    showProject(makeDetail([]));
    showJob(makeJob({ ...done, captions_url: null }));
    showPanel();
    expect(screen.getByTestId("final-video").querySelector("track")).toBeNull();
    expect(screen.queryByTestId("captions-link")).not.toBeInTheDocument();
  });

  describe("planning and starting", () => {
    const plan: RenderPlan = {
      segments: [{ segment_id: "s1", position: 0, model: "procedural", action: "generate", estimated_cost: 0.5 }],
      total_estimated_cost: 0.5,
      compose: true,
    };
    const renderButton = () => screen.getByRole("button", { name: "Render" });

    it("asks for the plan on Render, and again when the project's detail is invalidated", async () => {
      const detail = showProject(makeDetail([makeSegment({ id: "s1" })]));
      const planned = vi.spyOn(api, "planRender").mockResolvedValue(plan);
      vi.spyOn(api, "getProject").mockResolvedValue(detail);
      showPanel();
      expect(planned).not.toHaveBeenCalled();
      fireEvent.click(renderButton());
      const shown = await screen.findByRole("region", { name: "Render plan" });
      expect(within(shown).getByTestId("plan-cost")).toHaveTextContent("$0.50");
      expect(planned).toHaveBeenCalledTimes(1);

      await act(() => queryClient.invalidateQueries({ queryKey: projectKey("p1") }));
      await vi.waitFor(() => expect(planned).toHaveBeenCalledTimes(2));

      fireEvent.click(screen.getByRole("button", { name: "Not now" }));
      expect(screen.queryByRole("region", { name: "Render plan" })).not.toBeInTheDocument();
      await act(() => queryClient.invalidateQueries({ queryKey: projectKey("p1") }));
      expect(planned).toHaveBeenCalledTimes(2);
    });

    it("shows the plan's failure", async () => {
      showProject(makeDetail([makeSegment({ id: "s1" })]));
      vi.spyOn(api, "planRender").mockRejectedValue(new ApiError(503, "The queue is unavailable."));
      showPanel();
      fireEvent.click(renderButton());
      expect(await screen.findByRole("alert")).toHaveTextContent("The queue is unavailable.");
    });

    it("says Starting… while the start is on its way, then watches the job and closes the plan", async () => {
      showProject(makeDetail([makeSegment({ id: "s1" })]));
      vi.spyOn(api, "planRender").mockResolvedValue(plan);
      let answer: (job: RenderJob) => void = () => {};
      vi.spyOn(api, "startRender").mockReturnValue(new Promise((resolve) => (answer = resolve)));
      showPanel();
      fireEvent.click(renderButton());
      fireEvent.click(await screen.findByRole("button", { name: "Start render" }));
      expect(await screen.findByRole("button", { name: "Starting…" })).toBeDisabled();
      expect(renderButton()).toBeDisabled();
      await act(async () => answer(makeJob({ status: "completed", progress: 1, segments: [] })));
      expect(screen.queryByRole("region", { name: "Render plan" })).not.toBeInTheDocument();
      expect(screen.getByRole("region", { name: "Render progress" })).toHaveAttribute("data-job-id", "j1");
    });

    it("shows a budget refusal readably until dismissed, and keeps the plan", async () => {
      showProject(makeDetail([makeSegment({ id: "s1" })]));
      vi.spyOn(api, "planRender").mockResolvedValue(plan);
      vi.spyOn(api, "startRender").mockRejectedValue(new ApiError(402, "render would cost $3.00, $1.00 left"));
      showPanel();
      fireEvent.click(renderButton());
      fireEvent.click(await screen.findByRole("button", { name: "Start render" }));
      const alert = await screen.findByRole("alert");
      expect(alert).toHaveTextContent("Budget exceeded: render would cost $3.00, $1.00 left");
      expect(screen.getByRole("button", { name: "Start render" })).toBeEnabled();
      expect(appStore.getState().activeJobId).toBeNull();
      fireEvent.click(within(alert).getByRole("button", { name: "Dismiss error" }));
      await vi.waitFor(() => expect(screen.queryByRole("alert")).not.toBeInTheDocument());
    });
  });
});
