import type { RenderJobSegment, Segment } from "../../api/types";
import type { SaveState } from "./autosave";

/** Fields that decide a segment's pixels: editing one means its clip must be generated again. */
export const GENERATIVE_FIELDS = [
  "prompt",
  "negative_prompt",
  "model",
  "params",
  "duration",
  "seed",
  "init_image_asset_id",
  "continue_from_previous",
] as const;

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? {}) === JSON.stringify(b ?? {});
}

/** Did the live job's row render the segment as it is now (its snapshot matches)? */
export function rendersCurrentSpec(segment: Segment, row: RenderJobSegment): boolean {
  return (
    row.prompt === segment.prompt &&
    row.model === segment.model &&
    row.seed === segment.seed &&
    row.duration === segment.duration &&
    sameJson(row.params, segment.params)
  );
}

/** The segment's state brought up to date with a live job working on its current spec (the
 * server's state is from the last load; the job's events are newer). */
export function withLiveState(segment: Segment, row: RenderJobSegment | undefined): Segment {
  if (!row || !rendersCurrentSpec(segment, row)) return segment;
  if (row.status === "pending" || row.status === "running")
    return { ...segment, state: "generating", state_progress: row.progress, state_error: null };
  if (row.status === "failed") return { ...segment, state: "failed", state_error: row.error ?? "failed" };
  if (row.status === "completed") return { ...segment, state: "ready", state_error: null };
  return segment;
}

/** A segment's state, with the live job's progress when it is generating right now. */
export function segmentState(segment: Segment, live?: RenderJobSegment): { label: string; progress: number | null } {
  switch (segment.state) {
    case "ready":
      return { label: "Ready", progress: null };
    case "generating": {
      const progress = live && live.status === "running" ? live.progress : (segment.state_progress ?? 0);
      return { label: `Generating ${Math.round(progress * 100)}%`, progress };
    }
    case "failed":
      return { label: "Failed", progress: null };
    default:
      return { label: "Needs render", progress: null };
  }
}

export function SegmentStateBadge({ segment, live }: { segment: Segment; live?: RenderJobSegment | undefined }) {
  const { label } = segmentState(segment, live);
  const tone =
    segment.state === "ready"
      ? "ok"
      : segment.state === "failed"
        ? "bad"
        : segment.state === "generating"
          ? "info"
          : "warn";
  return (
    <span
      className={`badge badge-${tone}`}
      data-testid="segment-state"
      data-state={segment.state}
      title={segment.state === "failed" ? (segment.state_error ?? "Generation failed") : label}
    >
      {label}
    </span>
  );
}

const SAVE_LABELS: Record<SaveState["status"], string> = {
  saved: "Saved",
  saving: "Saving…",
  error: "Not saved",
  conflict: "Changed elsewhere",
};

export function SaveStatus({ state, onRetry }: { state: SaveState | undefined; onRetry?: () => void }) {
  const status = state?.status ?? "saved";
  return (
    <span className={`save-status save-${status}`} data-testid="save-status" data-status={status} aria-live="polite">
      {SAVE_LABELS[status]}
      {status === "error" && state?.error ? `: ${state.error}` : ""}
      {status === "error" && onRetry && (
        <button type="button" className="small link" onClick={onRetry}>
          Retry
        </button>
      )}
    </span>
  );
}
