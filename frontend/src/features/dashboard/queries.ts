/**
 * A project's render history as TanStack Query server state: the latest page of jobs, cached per
 * project. The dashboard slice writes live copies of the job it watches into the same cache (so
 * the history moves with the WebSocket) and keeps only which job is shown, a client choice.
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

export function useRenderJobs(projectId: Id | null) {
  return useQuery({
    queryKey: jobsKey(projectId ?? ""),
    queryFn: () => api.listRenderJobs(projectId ?? "", JOBS_PAGE_SIZE, 0),
    enabled: projectId !== null,
  });
}

/** The history as last fetched or updated (empty before the first answer). */
export function cachedJobs(projectId: Id): RenderJob[] {
  return queryClient.getQueryData<Page<RenderJob>>(jobsKey(projectId))?.items ?? [];
}

/** Put a job's newest copy in its project's history: in place, or first when it is new. */
export function putJob(job: RenderJob): void {
  queryClient.setQueryData<Page<RenderJob>>(jobsKey(job.project_id), (page) => {
    if (!page) return { items: [job], total: 1, limit: JOBS_PAGE_SIZE, offset: 0 };
    const index = page.items.findIndex((j) => j.id === job.id);
    if (index < 0) return { ...page, items: [job, ...page.items], total: page.total + 1 };
    const items = page.items.slice();
    items[index] = job;
    return { ...page, items };
  });
}
