import type { JobStatus, SegmentRenderStatus } from "../api/types";

const TONE: Record<string, string> = {
  queued: "neutral",
  pending: "neutral",
  generating: "busy",
  running: "busy",
  composing: "busy",
  completed: "ok",
  reused: "ok",
  failed: "bad",
  cancelled: "muted",
};

export function StatusBadge({
  status,
  reused = false,
  title,
}: {
  status: JobStatus | SegmentRenderStatus | "none";
  reused?: boolean;
  title?: string | undefined;
}) {
  const text = status === "completed" && reused ? "reused" : status === "none" ? "not rendered" : status;
  return (
    <span className={`badge badge-${TONE[text] ?? "muted"}`} data-status={status} title={title}>
      {text}
    </span>
  );
}
