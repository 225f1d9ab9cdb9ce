import { describe, expect, it } from "vitest";
import { rulerTicks } from "./TimeRuler";

const labels = (duration: number, width: number, fps = 24) => rulerTicks(duration, width, fps).map((t) => t.label);

describe("the ruler's ticks", () => {
  it("labels whole seconds as the monitor's timecode without frames", () => {
    expect(labels(4, 334)).toEqual(["00:00:00", "00:00:01", "00:00:02", "00:00:03"]);
  });

  it("labels sub-second ticks with their frame, each tick on a frame", () => {
    const ticks = rulerTicks(2, 1300, 24);
    expect(ticks.map((t) => t.label).slice(0, 3)).toEqual(["00:00:00:00", "00:00:00:06", "00:00:00:12"]);
    // 25 fps: a quarter second is not a whole frame; the step is six frames, and says so.
    const at25 = rulerTicks(2, 1300, 25);
    expect(at25[1]).toEqual({ time: 6 / 25, label: "00:00:00:06" });
  });

  it("widens the step so labels never touch, whatever the length", () => {
    for (const [duration, width] of [
      [0.5, 334],
      [2, 334],
      [37, 334],
      [600, 334],
      [5400, 334],
      [3, 1300],
      [900, 1300],
    ] as const) {
      const ticks = rulerTicks(duration, width, 24);
      expect(ticks.length).toBeGreaterThan(0);
      const gaps = ticks.slice(1).map((t, i) => ((t.time - (ticks[i]?.time ?? 0)) / duration) * width);
      const labelWidth = (ticks[0]?.label.length ?? 0) * 6 + 4;
      for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(labelWidth);
      // The last label still fits before the end.
      const last = ticks[ticks.length - 1]?.time ?? 0;
      expect(((duration - last) / duration) * width).toBeGreaterThanOrEqual(labelWidth);
    }
  });

  it("reads minutes and hours naturally on long timelines", () => {
    expect(labels(600, 334)).toEqual(["00:00:00", "00:02:00", "00:04:00", "00:06:00", "00:08:00"]);
    expect(labels(5400, 334)).toContain("01:00:00");
  });

  it("has nothing to mark on an empty timeline", () => {
    expect(rulerTicks(0, 334, 24)).toEqual([]);
  });
});
