import { act, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { appStore } from "../../store";
import { makeDetail, makeSegment, showProject } from "../../test/factories";
import { PX_PER_SECOND, Timeline } from "../timeline/Timeline";
import type { PlaybackClock } from "./clock";
import { PlaybackProvider, usePlayback } from "./PlaybackContext";

const initial = appStore.getState();
afterEach(() => appStore.setState(initial, true));

/** Hands the test the provider's clock. */
function Grab({ onClock }: { onClock: (clock: PlaybackClock) => void }) {
  onClock(usePlayback().clock);
  return null;
}

describe("<Timeline> in the editor's playback", () => {
  it("draws trimmed lengths and outlines the block under the playhead as it crosses", () => {
    const segments = [
      makeSegment({ id: "a", position: 0, duration: 2, trim_start: 0.5 }),
      makeSegment({ id: "b", position: 1, duration: 2 }),
    ];
    showProject(makeDetail(segments));
    let clock: PlaybackClock | null = null;
    render(
      <PlaybackProvider segments={segments} fps={24}>
        <Grab onClock={(c) => (clock = c)} />
        <Timeline />
      </PlaybackProvider>,
    );
    const blocks = screen.getAllByTestId("segment-block");
    expect(blocks[0]?.style.width).toBe(`${1.5 * PX_PER_SECOND}px`);
    expect(blocks[0]).toHaveTextContent("1.5 s ✂");
    expect(blocks[0]).toHaveClass("under-playhead");
    act(() => (clock as PlaybackClock | null)?.seek(1.6));
    expect(blocks[0]).not.toHaveClass("under-playhead");
    expect(blocks[1]).toHaveClass("under-playhead");
  });
});
