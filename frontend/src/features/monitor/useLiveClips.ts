/**
 * Which clip the monitor shows for each segment. A ready segment has its own `clip_url`. While a
 * render runs, a segment's clip exists as soon as its job row completes, long before the project
 * is reloaded at the end: the progress events say "completed" without a link, so the job is
 * fetched once per newly completed segment for its signed clip links.
 */
import { useQuery } from "@tanstack/react-query";
import { useMemo } from "react";
import { api } from "../../api/endpoints";
import type { Id, RenderJob, Segment } from "../../api/types";
import { useShownJob } from "../dashboard/useShownJob";

/** A render's rows for the timeline (a variations job's rows are takes, not the timeline's clips). */
export function timelineRows(job: RenderJob | null): RenderJob["segments"] {
  if (!job || (job as { kind?: string }).kind === "variations") return [];
  const ids = new Set(job.segments.map((s) => s.segment_id));
  return ids.size === job.segments.length ? job.segments : [];
}

type JobRow = RenderJob["segments"][number];

/** The job's clip is the segment's only if made from what the segment asks now (not before an edit). */
function madeFrom(row: JobRow, segment: Segment): boolean {
  return (
    row.prompt === segment.prompt &&
    row.model === segment.model &&
    row.duration === segment.duration &&
    (segment.seed == null || row.seed === segment.seed)
  );
}

export function useLiveClips(segments: readonly Segment[]): Map<Id, string> {
  const activeJob = useShownJob();
  const rows = timelineRows(activeJob);
  const waiting = rows
    .filter((r) => r.status === "completed" && !r.clip_url)
    .map((r) => r.segment_id)
    .sort()
    .join(",");
  const fetched = useQuery({
    queryKey: ["monitor-job-clips", activeJob?.id, waiting],
    queryFn: () => api.getRenderJob(activeJob?.id ?? ""),
    enabled: Boolean(activeJob) && waiting !== "",
    staleTime: Number.POSITIVE_INFINITY,
  });

  return useMemo(() => {
    const fromJob = new Map<Id, JobRow>();
    for (const list of [rows, timelineRows(fetched.data ?? null)]) {
      for (const row of list) if (row.status === "completed" && row.clip_url) fromJob.set(row.segment_id, row);
    }
    const clips = new Map<Id, string>();
    for (const segment of segments) {
      const row = fromJob.get(segment.id);
      if (segment.clip_url && segment.state !== "needs_render") clips.set(segment.id, segment.clip_url);
      else if (row?.clip_url && madeFrom(row, segment)) clips.set(segment.id, row.clip_url);
    }
    return clips;
  }, [segments, rows, fetched.data]);
}
