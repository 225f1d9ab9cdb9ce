/**
 * A job's overall progress from its segments, the same formula as the server's job view
 * (services/job_views.py): each segment weighs its share of the timeline's duration, generation
 * covers GENERATION_SHARE of the bar and composition the rest. Events carry the server's figure
 * (`job_progress`) and the UI shows that; this is the fallback for events without it. The figure
 * never goes down while a job runs.
 */
import type { RenderJob, RenderJobSegment } from "./types";

export const GENERATION_SHARE = 0.9;

function segmentProgress(seg: RenderJobSegment): number {
  if (seg.status === "completed") return 1;
  return Math.max(0, Math.min(1, seg.progress || 0));
}

/** Each segment's weight: the server's when it sent them, else equal shares. */
export function weightsOf(segments: readonly RenderJobSegment[]): number[] {
  const sent = segments.map((s) => (typeof s.weight === "number" && s.weight > 0 ? s.weight : 0));
  const total = sent.reduce((a, b) => a + b, 0);
  if (total > 0) return sent.map((w) => w / total);
  return segments.map(() => 1 / Math.max(1, segments.length));
}

export function weightedProgress(job: Pick<RenderJob, "status" | "segments">): number {
  if (job.status === "completed") return 1;
  if (job.status === "composing") return GENERATION_SHARE;
  const weights = weightsOf(job.segments);
  const generated = job.segments.reduce((sum, seg, i) => sum + (weights[i] ?? 0) * segmentProgress(seg), 0);
  if (generated <= 0) return 0;
  return Math.max(0.0001, Math.round(Math.min(generated, 1) * GENERATION_SHARE * 10000) / 10000);
}

/** The job with its progress brought up to date with its segments, never lower than before. */
export function withProgress(job: RenderJob, previous: number = job.progress): RenderJob {
  const progress = Math.max(previous, job.progress, weightedProgress(job));
  return progress === job.progress ? job : { ...job, progress };
}

/** Remaining time is guessed once this many generated segments (or all of them) are done. */
export const ETA_AFTER_SEGMENTS = 2;

/** Seconds left at the pace so far, as the server's job view computes it, from the live job. */
export function estimateRemaining(job: RenderJob, now: number = Date.now()): number | null {
  if ((job.status !== "generating" && job.status !== "composing") || !job.started_at) return null;
  const progress = job.progress;
  if (progress <= 0 || progress >= 1) return null;
  const generated = job.segments.filter((s) => !s.reused);
  const done = generated.filter((s) => s.status === "completed").length;
  if (done < Math.min(ETA_AFTER_SEGMENTS, generated.length)) return null;
  const elapsed = (now - Date.parse(job.started_at)) / 1000;
  return elapsed > 0 ? (elapsed * (1 - progress)) / progress : null;
}

/** Seconds left as "about 2 min", or null. */
export function formatEta(seconds: number | null | undefined): string | null {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return null;
  if (seconds < 60) return `about ${Math.max(1, Math.round(seconds))} s left`;
  return `about ${Math.round(seconds / 60)} min left`;
}
