/**
 * The open project's detail (the project and its segments) as TanStack Query server state, one
 * cached ProjectDetail per project under ["project", id]. The timeline slice's actions write
 * their optimistic edits into this cache and roll them back on failure; the query function is
 * the slice's `readProject` (it re-applies edits the server does not have yet). Nothing of the
 * detail is kept in Zustand, which keeps only which project is open, the selection, undo
 * history and the autosave states. A refetch is cheap when nothing changed: the API answers the
 * detail with an ETag and `private, no-cache`, so the browser revalidates it with If-None-Match
 * itself and a 304 sends no body.
 */
import { queryClient } from "../../api/queryClient";
import type { Id, Project, ProjectDetail, RenderJob } from "../../api/types";
import { TAKES_KEY } from "../takes/api";
import { withLiveState } from "./SegmentState";

export function projectKey(id: Id) {
  return ["project", id] as const;
}

/** The detail as last fetched or edited (undefined before the first answer). */
export function cachedDetail(id: Id | null): ProjectDetail | undefined {
  return id === null ? undefined : queryClient.getQueryData<ProjectDetail>(projectKey(id));
}

/** The project's fields without its segments. */
export function projectOf(detail: ProjectDetail): Project {
  const { segments: _segments, needs_render_count: _count, render_estimate: _estimate, ...project } = detail;
  return project;
}

/**
 * A live job's news in its project's cached detail: a segment the job works on at its current
 * spec says generating, failed or ready as the events come; for a clip just finished the detail
 * (its link, poster, the render estimate) and the segment's takes are fetched again.
 */
export function applyJobToDetail(job: RenderJob): void {
  const detail = cachedDetail(job.project_id);
  if (!detail) return;
  const rows = new Map(job.segments.map((row) => [row.segment_id, row]));
  let changed = false;
  const finished: Id[] = [];
  const segments = detail.segments.map((segment) => {
    const next = withLiveState(segment, rows.get(segment.id));
    if (
      next.state === segment.state &&
      next.state_progress === segment.state_progress &&
      next.state_error === segment.state_error
    ) {
      return segment;
    }
    changed = true;
    if (next.state === "ready") finished.push(segment.id);
    return next;
  });
  if (!changed) return;
  queryClient.setQueryData<ProjectDetail>(projectKey(job.project_id), { ...detail, segments });
  if (finished.length === 0) return;
  void queryClient.invalidateQueries({ queryKey: projectKey(job.project_id) });
  for (const id of finished) void queryClient.invalidateQueries({ queryKey: [...TAKES_KEY, id] });
}
