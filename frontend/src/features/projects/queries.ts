/**
 * The project list as TanStack Query server state: a cached page per offset, a create that
 * refreshes the list, and a delete that drops the row at once and puts it back if the server
 * refuses. Nothing of it is kept in the Zustand store.
 */
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../../api/endpoints";
import type { Id, Page, ProjectCard, ProjectCreate } from "../../api/types";

export const PROJECTS_PAGE_SIZE = 20;

export const SIZE_PRESETS = [
  { label: "1280×720 (landscape)", width: 1280, height: 720 },
  { label: "720×1280 (portrait)", width: 720, height: 1280 },
  { label: "960×960 (square)", width: 960, height: 960 },
] as const;

const LIST = ["projects"] as const;

export function useProjectsPage(offset: number) {
  return useQuery({
    queryKey: [...LIST, offset],
    queryFn: () => api.listProjects(PROJECTS_PAGE_SIZE, offset),
    placeholderData: keepPreviousData,
  });
}

/** The offset of the last page that has items (after deleting the last item of the last page). */
export function lastPageOffset(total: number): number {
  return Math.max(0, Math.floor((total - 1) / PROJECTS_PAGE_SIZE) * PROJECTS_PAGE_SIZE);
}

export function useCreateProject() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: ProjectCreate) => api.createProject(body),
    onSuccess: () => client.invalidateQueries({ queryKey: LIST }),
  });
}

export function useDeleteProject() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: Id) => api.deleteProject(id),
    onMutate: async (id) => {
      await client.cancelQueries({ queryKey: LIST });
      const before = client.getQueriesData<Page<ProjectCard>>({ queryKey: LIST });
      client.setQueriesData<Page<ProjectCard>>({ queryKey: LIST }, (page) =>
        page ? { ...page, items: page.items.filter((p) => p.id !== id), total: Math.max(0, page.total - 1) } : page,
      );
      return { before };
    },
    onError: (_err, _id, context) => {
      for (const [key, page] of context?.before ?? []) client.setQueryData(key, page);
    },
    onSettled: () => client.invalidateQueries({ queryKey: LIST }),
  });
}
