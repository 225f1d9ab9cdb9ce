import { ApiError, errorMessage } from "../../api/client";
import type { ProgressClient } from "../../api/progress";
import { queryClient } from "../../api/queryClient";
import type { Id, RenderJob, RenderPlan } from "../../api/types";
import { isTerminal } from "../../api/types";
import type { SliceCreator } from "../../store/types";
import { TAKES_KEY } from "../takes/api";
import { applyJobToDetail, projectKey } from "../timeline/queries";
import { JOBS_PAGE_SIZE, jobsKey, putJob } from "./queries";

export { JOBS_PAGE_SIZE } from "./queries";

export interface DashboardSlice {
  plan: RenderPlan | null;
  planLoading: boolean;
  planError: string | null;
  /** The job shown in the dashboard: the one being watched, or one picked from the history. */
  activeJob: RenderJob | null;
  renderError: string | null;
  /** A non-fatal note about live updates (reconnecting, polling). */
  progressNotice: string | null;
  starting: boolean;
  cancelling: boolean;

  requestPlan: () => Promise<void>;
  dismissPlan: () => void;
  startRender: () => Promise<RenderJob | null>;
  cancelRender: () => Promise<void>;
  /** Refresh the project's history (TanStack Query, see ./queries) and pick the job to show. */
  loadJobs: (projectId: Id) => Promise<void>;
  showJob: (job: RenderJob) => void;
  watchJob: (job: RenderJob) => void;
  stopWatching: () => void;
  clearRenderError: () => void;
}

export const createDashboardSlice: SliceCreator<DashboardSlice> = (set, get, { api, progress }) => {
  // The live connection is not state: it lives here, and only the job it produces is in the store.
  let client: ProgressClient | null = null;

  const upsertJob = putJob;

  return {
    plan: null,
    planLoading: false,
    planError: null,
    activeJob: null,
    renderError: null,
    progressNotice: null,
    starting: false,
    cancelling: false,

    requestPlan: async () => {
      const projectId = get().projectId;
      if (!projectId) return;
      set({ planLoading: true, planError: null, plan: null });
      // Edits still on their way are sent first: the plan must be of what is on screen.
      if (!(await get().flushEdits())) {
        set({
          planLoading: false,
          planError: "Some edits are not saved yet (see the segment marked “Not saved”); save them before rendering.",
        });
        return;
      }
      try {
        const plan = await api.planRender(projectId);
        set({ plan, planLoading: false });
      } catch (err) {
        set({ planLoading: false, planError: errorMessage(err) });
      }
    },

    dismissPlan: () => set({ plan: null, planError: null }),

    startRender: async () => {
      const projectId = get().projectId;
      if (!projectId) return null;
      set({ starting: true, renderError: null });
      if (!(await get().flushEdits())) {
        set({ starting: false, renderError: "Some edits are not saved yet; save them before rendering." });
        return null;
      }
      try {
        const job = await api.startRender(projectId);
        set({ starting: false, plan: null });
        upsertJob(job);
        get().watchJob(job);
        return job;
      } catch (err) {
        const message =
          err instanceof ApiError && err.status === 402 ? `Budget exceeded: ${err.message}` : errorMessage(err);
        set({ starting: false, renderError: message });
        return null;
      }
    },

    cancelRender: async () => {
      const job = get().activeJob;
      if (!job || isTerminal(job.status)) return;
      set({ cancelling: true, renderError: null });
      try {
        const updated = await api.cancelRenderJob(job.id);
        // Events may already have moved the job on; only take the answer if it is not older.
        const current = get().activeJob;
        if (current?.id === updated.id && !isTerminal(current.status)) set({ activeJob: updated });
        upsertJob(get().activeJob ?? updated);
        set({ cancelling: false });
      } catch (err) {
        set({ cancelling: false, renderError: `Could not cancel: ${errorMessage(err)}` });
      }
    },

    loadJobs: async (projectId) => {
      try {
        const page = await queryClient.fetchQuery({
          queryKey: jobsKey(projectId),
          queryFn: () => api.listRenderJobs(projectId, JOBS_PAGE_SIZE, 0),
          staleTime: 0,
        });
        if (get().projectId !== projectId) return;
        // Keep the live copy of a watched job: the list may be a step behind the socket. Once the
        // list has it finished, the list's copy is complete (the socket's events carry no
        // captions_url, for one) and replaces the live one.
        const active = get().activeJob;
        const items = page.items.map((j) => (active && j.id === active.id && !isTerminal(j.status) ? active : j));
        queryClient.setQueryData(jobsKey(projectId), { ...page, items });
        const listed = active ? items.find((j) => j.id === active.id) : undefined;
        if (listed && listed !== active && get().activeJob?.id === listed.id) set({ activeJob: listed });
        const latest = items[0];
        if (!get().activeJob && latest) {
          if (isTerminal(latest.status)) set({ activeJob: latest });
          else get().watchJob(latest);
        }
      } catch {
        // The history's query holds the error and the panel shows it.
      }
    },

    showJob: (job) => {
      if (get().activeJob?.id === job.id) return;
      if (isTerminal(job.status)) {
        client?.stop();
        client = null;
        set({ activeJob: job, progressNotice: null, renderError: null });
      } else {
        get().watchJob(job);
      }
    },

    watchJob: (job) => {
      client?.stop();
      client = null;
      set({ activeJob: job, progressNotice: null, renderError: null });
      if (isTerminal(job.status)) return;
      const token = get().token;
      if (!token) return;
      const projectId = job.project_id;
      const watched = progress(
        { jobId: job.id, token, fetchJob: api.getRenderJob },
        {
          onJob: (next) => {
            if (client !== watched) return;
            set({ activeJob: next, progressNotice: null });
            upsertJob(next);
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
      set({
        activeJob: null,
        progressNotice: null,
        plan: null,
        planError: null,
        renderError: null,
      });
    },

    clearRenderError: () => set({ renderError: null }),
  };
};
