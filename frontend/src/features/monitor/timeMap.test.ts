import { describe, expect, it } from "vitest";
import { PlaybackClock } from "./clock";
import { clipTimeAt, dragTrim, frameFloor, spanAt, spansDuration, spansOf } from "./timeMap";

const segs = [
  { id: "a", duration: 2 },
  { id: "b", duration: 4, trim_start: 1, trim_end: 3 },
  { id: "c", duration: 1.5 },
];

describe("time mapping", () => {
  it("lays trimmed segments back to back", () => {
    const spans = spansOf(segs);
    expect(spans.map((s) => [s.start, s.end])).toEqual([
      [0, 2],
      [2, 4],
      [4, 5.5],
    ]);
    expect(spansDuration(spans)).toBe(5.5);
  });

  it("finds the segment at a time, a boundary belonging to the one it starts", () => {
    const spans = spansOf(segs);
    expect(spanAt(spans, 0)?.id).toBe("a");
    expect(spanAt(spans, 1.999)?.id).toBe("a");
    expect(spanAt(spans, 2)?.id).toBe("b");
    expect(spanAt(spans, 4.2)?.id).toBe("c");
    expect(spanAt(spans, 99)?.id).toBe("c");
    expect(spanAt([], 1)).toBeNull();
  });

  it("maps timeline time into the clip from its in point", () => {
    const b = spansOf(segs)[1];
    if (!b) throw new Error("no span");
    expect(clipTimeAt(b, 2)).toBe(1);
    expect(clipTimeAt(b, 3.5)).toBe(2.5);
    expect(clipTimeAt(b, 10)).toBe(3);
  });

  it("floors a time to the start of its frame", () => {
    expect(frameFloor((1 / 24) * 5, 24)).toBeCloseTo(5 / 24, 9);
  });
});

describe("trim by dragging an edge", () => {
  const seg = { id: "s", duration: 4 };

  it("snaps the in point to a frame", () => {
    expect(dragTrim(seg, "start", 0.51, 24)).toEqual({ trim_start: 0.5, trim_end: null });
    expect(dragTrim(seg, "start", 0.53, 24).trim_start).toBeCloseTo(13 / 24, 6);
  });

  it("snaps the out point and clears a trim dragged back to the clip's end", () => {
    expect(dragTrim(seg, "end", -1.01, 24)).toEqual({ trim_start: null, trim_end: 3 });
    expect(dragTrim({ ...seg, trim_end: 3 }, "end", 5, 24)).toEqual({ trim_start: null, trim_end: null });
    expect(dragTrim({ ...seg, trim_start: 1 }, "start", -3, 24)).toEqual({ trim_start: null, trim_end: null });
  });

  it("keeps one frame between in and out", () => {
    expect(dragTrim({ ...seg, trim_end: 2 }, "start", 10, 25)).toEqual({ trim_start: 1.96, trim_end: 2 });
    expect(dragTrim({ ...seg, trim_start: 1 }, "end", -10, 25)).toEqual({ trim_start: 1, trim_end: 1.04 });
  });
});

describe("playback clock", () => {
  function fakeClock() {
    let wall = 0;
    const frames: Array<() => void> = [];
    const clock = new PlaybackClock({
      now: () => wall,
      requestFrame: (cb) => frames.push(cb),
      cancelFrame: () => undefined,
    });
    const run = (ms: number) => {
      wall += ms;
      const cb = frames.shift();
      cb?.();
    };
    return { clock, run };
  }

  it("advances with the wall clock on animation frames and stops at the end", () => {
    const { clock, run } = fakeClock();
    clock.setDuration(2);
    const seen: number[] = [];
    clock.subscribe((s) => seen.push(s.time));
    clock.play();
    run(500);
    expect(clock.state.time).toBeCloseTo(0.5);
    run(1000);
    expect(clock.state.time).toBeCloseTo(1.5);
    run(1000);
    expect(clock.state).toEqual({ time: 2, playing: false });
    expect(seen.at(-1)).toBe(2);
  });

  it("holds while stalled, steps frames and plays one range alone", () => {
    const { clock, run } = fakeClock();
    clock.setDuration(10);
    clock.play();
    run(1000);
    clock.setStalled(true);
    run(3000);
    expect(clock.state.time).toBeCloseTo(1);
    clock.setStalled(false);
    run(250);
    expect(clock.state.time).toBeCloseTo(1.25);
    clock.step(1, 24);
    expect(clock.state.playing).toBe(false);
    expect(clock.state.time).toBeCloseTo(31 / 24);
    clock.step(-2, 24);
    expect(clock.state.time).toBeCloseTo(29 / 24);
    clock.playRange(4, 5);
    run(2000);
    expect(clock.state).toEqual({ time: 5, playing: false });
    clock.seek(-3);
    expect(clock.state.time).toBe(0);
  });
});
