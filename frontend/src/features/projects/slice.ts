import { ApiError, errorMessage } from "../../api/client";
import type { Id, Project, ProjectCreate } from "../../api/types";
import type { SliceCreator } from "../../store/types";

export const PROJECTS_PAGE_SIZE = 20;

export const SIZE_PRESETS = [
  { label: "1280×720 (landscape)", width: 1280, height: 720 },
  { label: "720×1280 (portrait)", width: 720, height: 1280 },
  { label: "960×960 (square)", width: 960, height: 960 },
] as const;

export interface ProjectsSlice {
  projects: Project[];
  projectsTotal: number;
  projectsOffset: number;
  projectsLoading: boolean;
  projectsError: string | null;
  createProjectErrors: Record<string, string>;
  loadProjects: (offset?: number) => Promise<void>;
  createProject: (body: ProjectCreate) => Promise<Project | null>;
  deleteProject: (id: Id) => Promise<boolean>;
}

export const createProjectsSlice: SliceCreator<ProjectsSlice> = (set, get, { api }) => ({
  projects: [],
  projectsTotal: 0,
  projectsOffset: 0,
  projectsLoading: false,
  projectsError: null,
  createProjectErrors: {},

  loadProjects: async (offset) => {
    const at = offset ?? get().projectsOffset;
    set({ projectsLoading: true, projectsError: null });
    try {
      const page = await api.listProjects(PROJECTS_PAGE_SIZE, at);
      // Deleting the last item of the last page leaves an empty page: step back one.
      if (page.items.length === 0 && at > 0 && page.total > 0) {
        const last = Math.max(0, Math.floor((page.total - 1) / PROJECTS_PAGE_SIZE) * PROJECTS_PAGE_SIZE);
        return get().loadProjects(last);
      }
      set({ projects: page.items, projectsTotal: page.total, projectsOffset: page.offset, projectsLoading: false });
    } catch (err) {
      set({ projectsLoading: false, projectsError: errorMessage(err) });
    }
  },

  createProject: async (body) => {
    set({ createProjectErrors: {}, projectsError: null });
    try {
      const project = await api.createProject(body);
      await get().loadProjects(0);
      return project;
    } catch (err) {
      if (err instanceof ApiError && Object.keys(err.fieldErrors).length > 0) {
        set({ createProjectErrors: err.fieldErrors });
      } else {
        set({ projectsError: errorMessage(err) });
      }
      return null;
    }
  },

  deleteProject: async (id) => {
    const before = get().projects;
    set({ projects: before.filter((p) => p.id !== id), projectsError: null });
    try {
      await api.deleteProject(id);
      await get().loadProjects();
      return true;
    } catch (err) {
      set({ projects: before, projectsError: `Could not delete the project: ${errorMessage(err)}` });
      return false;
    }
  },
});
