import { ApiError, errorMessage } from "../../api/client";
import type { ProgressClient } from "../../api/progress";
import { queryClient } from "../../api/queryClient";
import type { Id, RenderJob, RenderPlan } from "../../api/types";
import { isTerminal } from "../../api/types";
import type { SliceCreator } from "../../store/types";
import { TAKES_KEY } from "../takes/api";
import { applyJobToDetail, projectKey } from "../timeline/queries";
import { cachedJob, jobsQuery, planKey, putJob } from "./queries";

export { JOBS_PAGE_SIZE } from "./queries";

export interface DashboardSlice {
  /** Whether the render plan is on show (the plan itself is server state: see ./queries). */
  planOpen: boolean;
  /** The id of the job shown in the dashboard: the one being watched, or one picked from the
   * history. The job itself is server state, in the history's cache (see ./useShownJob). */
  activeJobId: Id | null;
  /** A non-fatal note about live updates (reconnecting, polling). */
  progressNotice: string | null;

  openPlan: () => void;
  dismissPlan: () => void;
  /** The dry-run plan of what is on screen: pending edits are sent first. Throws a readable error. */
  planRender: () => Promise<RenderPlan>;
  /** Start a render and watch it. Throws a readable error (see useStartRender). */
  startRender: () => Promise<RenderJob>;
  /** Cancel the job on show. Throws a readable error (see useCancelRender). */
  cancelRender: () => Promise<void>;
  /** Refresh the project's history (TanStack Query, see ./queries) and pick the job to show. */
  loadJobs: (projectId: Id) => Promise<void>;
  showJob: (job: RenderJob) => void;
  watchJob: (job: RenderJob) => void;
  stopWatching: () => void;
}

export const createDashboardSlice: SliceCreator<DashboardSlice> = (set, get, { api, progress }) => {
  // The live connection is not state: it lives here, and the job it produces is in the query cache.
  let client: ProgressClient | null = null;

  const projectOpen = (): Id => {
    const projectId = get().projectId;
    if (!projectId) throw new Error("No project is open.");
    return projectId;
  };

  return {
    planOpen: false,
    activeJobId: null,
    progressNotice: null,

    openPlan: () => {
      // Each Render asks again: a plan shown earlier may be of other edits.
      const projectId = get().projectId;
      if (projectId) queryClient.removeQueries({ queryKey: planKey(projectId), exact: true });
      set({ planOpen: true });
    },
    dismissPlan: () => set({ planOpen: false }),

    planRender: async () => {
      const projectId = projectOpen();
      // Edits still on their way are sent first: the plan must be of what is on screen.
      if (!(await get().flushEdits())) {
        throw new Error(
          "Some edits are not saved yet (see the segment marked “Not saved”); save them before rendering.",
        );
      }
      return api.planRender(projectId);
    },

    startRender: async () => {
      const projectId = projectOpen();
      if (!(await get().flushEdits())) throw new Error("Some edits are not saved yet; save them before rendering.");
      let job: RenderJob;
      try {
        job = await api.startRender(projectId);
      } catch (err) {
        throw new Error(
          err instanceof ApiError && err.status === 402 ? `Budget exceeded: ${err.message}` : errorMessage(err),
        );
      }
      set({ planOpen: false });
      get().watchJob(job);
      return job;
    },

    cancelRender: async () => {
      const { projectId, activeJobId } = get();
      const job = projectId && activeJobId ? cachedJob(projectId, activeJobId) : null;
      if (!job || isTerminal(job.status)) return;
      let updated: RenderJob;
      try {
        updated = await api.cancelRenderJob(job.id);
      } catch (err) {
        throw new Error(`Could not cancel: ${errorMessage(err)}`);
      }
      // Events may already have moved the job on: putJob keeps the answer only if it is not older.
      putJob(updated);
    },

    loadJobs: async (projectId) => {
      try {
        const page = await queryClient.fetchQuery({ ...jobsQuery(projectId, api.listRenderJobs), staleTime: 0 });
        if (get().projectId !== projectId) return;
        const latest = page.items[0];
        if (!get().activeJobId && latest) {
          if (isTerminal(latest.status)) set({ activeJobId: latest.id });
          else get().watchJob(latest);
        }
      } catch {
        // The history's query holds the error and the panel shows it.
      }
    },

    showJob: (job) => {
      if (get().activeJobId === job.id) return;
      if (isTerminal(job.status)) {
        client?.stop();
        client = null;
        set({ activeJobId: job.id, progressNotice: null });
      } else {
        get().watchJob(job);
      }
    },

    watchJob: (job) => {
      client?.stop();
      client = null;
      putJob(job);
      set({ activeJobId: job.id, progressNotice: null });
      if (isTerminal(job.status)) return;
      const token = get().token;
      if (!token) return;
      const projectId = job.project_id;
      const watched = progress(
        { jobId: job.id, token, fetchJob: api.getRenderJob },
        {
          onJob: (next) => {
            if (client !== watched) return;
            set({ progressNotice: null });
            putJob(next);
            applyJobToDetail(next);
          },
          onError: (message) => {
            if (client !== watched) return;
            set({ progressNotice: message });
          },
          onEnd: (reason) => {
            if (client !== watched) return;
            client = null;
            if (reason === "terminal" && get().projectId === projectId) {
              // New clips mean new posters, segment states and takes.
              void queryClient.invalidateQueries({ queryKey: projectKey(projectId) });
              void queryClient.invalidateQueries({ queryKey: TAKES_KEY });
              void get().loadJobs(projectId);
            }
          },
        },
      );
      client = watched;
      watched.start();
    },

    stopWatching: () => {
      client?.stop();
      client = null;
      set({ activeJobId: null, progressNotice: null, planOpen: false });
    },
  };
};
