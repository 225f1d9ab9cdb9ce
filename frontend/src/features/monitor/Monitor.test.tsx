import { QueryClientProvider } from "@tanstack/react-query";
import { act, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { queryClient } from "../../api/queryClient";
import type { RenderJob, Segment } from "../../api/types";
import { appStore } from "../../store";
import { makeJob, makeSegment, showJob } from "../../test/factories";
import type { PlaybackClock } from "./clock";
import { Monitor } from "./Monitor";
import { PlaybackProvider, usePlayback } from "./PlaybackContext";

const initial = appStore.getState();
afterEach(() => appStore.setState(initial, true));

function Grab({ onClock }: { onClock: (clock: PlaybackClock) => void }) {
  onClock(usePlayback().clock);
  return null;
}

function mount(segments: Segment[], job: RenderJob | null = null) {
  appStore.setState({ projectId: "p1" });
  showJob(job);
  let clock: PlaybackClock | null = null;
  const view = render(
    <QueryClientProvider client={queryClient}>
      <PlaybackProvider segments={segments} fps={24}>
        <Grab onClock={(c) => (clock = c)} />
        <Monitor />
      </PlaybackProvider>
    </QueryClientProvider>,
  );
  return { view, seek: (t: number) => act(() => (clock as PlaybackClock | null)?.seek(t)) };
}

const row = (segment_id: string, position: number) => ({
  segment_id,
  position,
  status: "pending" as const,
  progress: 0,
  reused: false,
  error: null,
  message: null,
  weight: 0.5,
});

describe("<Monitor>", () => {
  it("shows a ready segment's clip and a slate, for its duration, where there is no clip", () => {
    const { seek } = mount([
      makeSegment({ id: "a", position: 0, duration: 2, state: "ready", clip_url: "/a.mp4" }),
      makeSegment({ id: "b", position: 1, duration: 1, prompt: "the harbour at dusk" }),
    ]);
    expect(screen.getByTestId("monitor-video")).toHaveAttribute("src", "/a.mp4");
    expect(screen.queryByTestId("monitor-slate")).toBeNull();
    seek(2.5);
    expect(screen.queryByTestId("monitor-video")).toBeNull();
    expect(screen.getByTestId("monitor-slate")).toHaveTextContent("the harbour at dusk");
    expect(screen.getByTestId("monitor-slate")).toHaveTextContent("Needs a render · 1 s");
    expect(screen.getByTestId("monitor")).toHaveAttribute("data-time", "2.500");
  });

  it("plays a clip a running render finished, unless the segment was edited since", () => {
    const segments = [
      makeSegment({ id: "s1", position: 0, prompt: "one", seed: 7 }),
      makeSegment({ id: "s2", position: 1, prompt: "two", seed: 8 }),
    ];
    const job = makeJob({
      status: "generating",
      segments: [
        {
          ...row("s1", 0),
          status: "completed",
          progress: 1,
          prompt: "one",
          model: "procedural",
          seed: 7,
          duration: 1,
          clip_url: "/s1.mp4",
        },
        { ...row("s2", 1), status: "running", progress: 0.4 },
      ],
    });
    const { seek, view } = mount(segments, job);
    expect(screen.getByTestId("monitor-video")).toHaveAttribute("src", "/s1.mp4");
    seek(1.5);
    expect(screen.getByTestId("monitor-slate")).toHaveTextContent("Generating 40%");
    view.unmount();

    // The prompt changed after the job started: its clip is not this segment's any more.
    mount([{ ...(segments[0] as Segment), prompt: "one, edited" }, segments[1] as Segment], job);
    expect(screen.queryByTestId("monitor-video")).toBeNull();
    expect(screen.getByTestId("monitor-slate")).toBeInTheDocument();
  });
});
