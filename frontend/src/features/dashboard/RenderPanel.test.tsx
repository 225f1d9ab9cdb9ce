import { QueryClientProvider } from "@tanstack/react-query";
import { act, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { queryClient } from "../../api/queryClient";
import { appStore } from "../../store";
import { makeDetail, makeJob, makeSegment, showProject } from "../../test/factories";
import { jobsKey } from "./queries";
import { RenderPanel } from "./RenderPanel";

const initial = appStore.getState();
afterEach(() => appStore.setState(initial, true));

/** The panel with its project's history already cached (no request leaves the test). */
function showPanel() {
  const projectId = appStore.getState().projectId;
  if (projectId) queryClient.setQueryData(jobsKey(projectId), { items: [], total: 0, limit: 10, offset: 0 });
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
    appStore.setState({ activeJob: makeJob({ ...done, captions_url: "/api/files/c1?sig" }) });
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
    appStore.setState({ activeJob: null });
    showPanel();
    expect(screen.queryByRole("region", { name: "Contact sheet" })).not.toBeInTheDocument();
  });

  it("lists a job's segments as that job rendered them, not as they are now", () => {
    const job = makeJob({ ...done, segments: makeJob().segments.slice(0, 1) });
    const [first] = job.segments;
    showProject(makeDetail([makeSegment({ id: "s1", prompt: "edited since" })]));
    appStore.setState({
      activeJob: {
        ...job,
        segments: [
          { ...(first as (typeof job.segments)[number]), prompt: "as rendered", model: "procedural", seed: 7 },
        ],
      },
    });
    showPanel();
    expect(screen.getByTestId("job-segment-prompt")).toHaveTextContent("1. as rendered");
    expect(screen.queryByText(/edited since/)).not.toBeInTheDocument();
  });

  it("estimates the time left once two generated segments have finished, not before", () => {
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
    appStore.setState({ activeJob: running(1) });
    const view = showPanel();
    expect(screen.getByTestId("job-progress")).not.toHaveTextContent(/left/);
    act(() => appStore.setState({ activeJob: running(2) }));
    // 60 s for 60%: 40 s more at that pace.
    expect(screen.getByTestId("job-progress")).toHaveTextContent("60% · about 40 s left");
    view.unmount();
    vi.useRealTimers();
  });

  it("has no track without captions", () => {
    showProject(makeDetail([]));
    appStore.setState({ activeJob: makeJob({ ...done, captions_url: null }) });
    showPanel();
    expect(screen.getByTestId("final-video").querySelector("track")).toBeNull();
    expect(screen.queryByTestId("captions-link")).not.toBeInTheDocument();
  });
});
