import { QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { queryClient } from "../../api/queryClient";
import { appStore } from "../../store";
import { makeJob, makeProject, makeSegment } from "../../test/factories";
import { jobsKey } from "./queries";
import { RenderPanel } from "./RenderPanel";

const initial = appStore.getState();
afterEach(() => appStore.setState(initial, true));

/** The panel with its project's history already cached (no request leaves the test). */
function showPanel() {
  const projectId = appStore.getState().project?.id;
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
    appStore.setState({
      project: makeProject(),
      segments: [makeSegment({ state: "ready" })],
      activeJob: makeJob({ ...done, captions_url: "/api/files/c1?sig" }),
    });
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
    appStore.setState({ project: makeProject(), segments: [], activeJob: null });
    showPanel();
    expect(screen.queryByRole("region", { name: "Contact sheet" })).not.toBeInTheDocument();
  });

  it("lists a job's segments as that job rendered them, not as they are now", () => {
    const job = makeJob({ ...done, segments: makeJob().segments.slice(0, 1) });
    const [first] = job.segments;
    appStore.setState({
      project: makeProject(),
      segments: [makeSegment({ id: "s1", prompt: "edited since" })],
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

  it("has no track without captions", () => {
    appStore.setState({ project: makeProject(), activeJob: makeJob({ ...done, captions_url: null }) });
    showPanel();
    expect(screen.getByTestId("final-video").querySelector("track")).toBeNull();
    expect(screen.queryByTestId("captions-link")).not.toBeInTheDocument();
  });
});
