/**
 * A project's render history as TanStack Query server state: the latest page of jobs, cached per
 * project. The dashboard slice writes live copies of the job it watches into the same cache (so
 * the history moves with the WebSocket) and keeps only which job is shown, a client choice; the
 * shown job is read from here (./useShownJob).
 */
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/endpoints";
import { queryClient } from "../../api/queryClient";
import type { Id, Page, RenderJob } from "../../api/types";
import { projectKey } from "../timeline/queries";

export const JOBS_PAGE_SIZE = 10;

export function jobsKey(projectId: Id) {
  return ["render-jobs", projectId] as const;
}

/** The render plan, under its project's key: invalidating the detail invalidates the plan. */
export function planKey(projectId: Id) {
  return [...projectKey(projectId), "render-plan"] as const;
}

/** The history's query; `list` is the request (the slice passes its own api). */
export function jobsQuery(projectId: Id, list: typeof api.listRenderJobs = api.listRenderJobs) {
  return {
    queryKey: jobsKey(projectId),
    queryFn: async () => keepNewest(projectId, await list(projectId, JOBS_PAGE_SIZE, 0)),
  };
}

export function useRenderJobs(projectId: Id | null) {
  // The client the slice writes live copies to, whatever provider is around.
  return useQuery({ ...jobsQuery(projectId ?? ""), enabled: projectId !== null }, queryClient);
}

/** Whether `next` is an older copy of the same job than `current`: events come in `seq` order,
 * and progress ticks repeat the last seq with a higher figure. */
function older(next: RenderJob, current: RenderJob): boolean {
  return next.seq < current.seq || (next.seq === current.seq && next.progress < current.progress);
}

/** A fetched page with the cached copy kept of any job the socket has moved further than the
 * list (it may be a step behind): a shown figure never goes lower. */
function keepNewest(projectId: Id, page: Page<RenderJob>): Page<RenderJob> {
  const cached = new Map(cachedJobs(projectId).map((j) => [j.id, j]));
  const items = page.items.map((job) => {
    const current = cached.get(job.id);
    return current && older(job, current) ? current : job;
  });
  return { ...page, items };
}

/** The history as last fetched or updated (empty before the first answer). */
export function cachedJobs(projectId: Id): RenderJob[] {
  return queryClient.getQueryData<Page<RenderJob>>(jobsKey(projectId))?.items ?? [];
}

/** One job of the history as last fetched or updated. */
export function cachedJob(projectId: Id, jobId: Id): RenderJob | null {
  return cachedJobs(projectId).find((j) => j.id === jobId) ?? null;
}

/** Put a job's copy in its project's history: in place unless older, or first when it is new. */
export function putJob(job: RenderJob): void {
  queryClient.setQueryData<Page<RenderJob>>(jobsKey(job.project_id), (page) => {
    if (!page) return { items: [job], total: 1, limit: JOBS_PAGE_SIZE, offset: 0 };
    const index = page.items.findIndex((j) => j.id === job.id);
    if (index < 0) return { ...page, items: [job, ...page.items], total: page.total + 1 };
    const current = page.items[index] as RenderJob;
    if (older(job, current)) return page;
    const items = page.items.slice();
    items[index] = job;
    return { ...page, items };
  });
}
