import { describe, expect, it } from "vitest";
import { makeJob } from "../test/factories";
import { estimateRemaining, formatEta, weightedProgress, withProgress } from "./jobProgress";
import { applyEvent } from "./progress";
import type { RenderJobSegment } from "./types";

function seg(id: string, weight: number, patch: Partial<RenderJobSegment> = {}): RenderJobSegment {
  return {
    segment_id: id,
    position: 0,
    status: "running",
    progress: 0,
    reused: false,
    error: null,
    message: null,
    weight,
    ...patch,
  };
}

describe("weightedProgress", () => {
  it("weighs each segment by its share of the duration", () => {
    // A 1 s shot done and a 3 s shot half way: 0.9 * (0.25 + 0.75 * 0.5), as the server says.
    const job = makeJob({
      status: "generating",
      segments: [seg("a", 0.25, { status: "completed", progress: 1 }), seg("b", 0.75, { progress: 0.5 })],
    });
    expect(weightedProgress(job)).toBeCloseTo(0.5625, 4);
  });

  it("is above 0 as soon as any segment moves, however little", () => {
    const job = makeJob({ status: "generating", segments: [seg("a", 0.999, {}), seg("b", 0.001, { progress: 0.01 })] });
    expect(weightedProgress(job)).toBeGreaterThan(0);
  });

  it("falls back to equal shares without weights, and covers composition", () => {
    const job = makeJob({
      status: "generating",
      segments: [seg("a", 0, { status: "completed" }), seg("b", 0, { progress: 0 })],
    });
    expect(weightedProgress(job)).toBeCloseTo(0.45, 4);
    expect(weightedProgress({ ...job, status: "composing" })).toBe(0.9);
    expect(weightedProgress({ ...job, status: "completed" })).toBe(1);
  });
});

describe("live events", () => {
  it("move the job's figure while segments generate (it used to stay 0 until composing)", () => {
    let job = makeJob({ status: "generating", progress: 0 });
    job = applyEvent(job, {
      type: "segment",
      seq: 1,
      tick: true,
      job_id: "j1",
      segment_id: "s1",
      status: "running",
      progress: 0.5,
    });
    expect(job.progress).toBeCloseTo(0.225, 4);
    job = applyEvent(job, {
      type: "segment",
      seq: 1,
      tick: true,
      job_id: "j1",
      segment_id: "s2",
      status: "running",
      progress: 0.5,
    });
    expect(job.progress).toBeCloseTo(0.45, 4);
  });

  it("never go backwards: a stale job event or a retried segment leaves the bar where it was", () => {
    let job = makeJob({ status: "generating", segments: [seg("s1", 0.5, { progress: 0.8 }), seg("s2", 0.5)] });
    job = withProgress(job);
    const before = job.progress;
    job = applyEvent(job, { type: "job", seq: 2, job_id: "j1", status: "generating", progress: 0 });
    expect(job.progress).toBe(before);
    job = applyEvent(job, { type: "segment", seq: 3, job_id: "j1", segment_id: "s1", status: "pending", progress: 0 });
    expect(job.progress).toBe(before);
  });
});

describe("estimateRemaining", () => {
  const started = "2026-01-01T00:00:00Z";
  const at = (seconds: number) => Date.parse(started) + seconds * 1000;

  it("waits for two generated segments, then extrapolates the pace so far", () => {
    const one = makeJob({
      status: "generating",
      started_at: started,
      progress: 0.3,
      segments: [seg("a", 0.5, { status: "completed" }), seg("b", 0.5, { progress: 0.2 })],
    });
    expect(estimateRemaining({ ...one, segments: [...one.segments, seg("c", 0, {})] }, at(30))).toBeNull();
    // All (two) generated segments... one done of two: still too early.
    expect(estimateRemaining(one, at(30))).toBeNull();
    const two = makeJob({
      status: "generating",
      started_at: started,
      progress: 0.6,
      segments: [
        seg("a", 0.3, { status: "completed" }),
        seg("b", 0.3, { status: "completed" }),
        seg("c", 0.4, { progress: 0.1 }),
      ],
    });
    expect(estimateRemaining(two, at(60))).toBeCloseTo(40, 5);
    expect(estimateRemaining({ ...two, status: "completed", progress: 1 }, at(60))).toBeNull();
  });
});

describe("formatEta", () => {
  it("speaks in seconds, then minutes, and says nothing without an estimate", () => {
    expect(formatEta(null)).toBeNull();
    expect(formatEta(12.4)).toBe("about 12 s left");
    expect(formatEta(150)).toBe("about 3 min left");
  });
});
