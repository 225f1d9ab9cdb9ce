/** The open project's detail for components: the ["project", id] query (see ./queries). */
import { useQuery } from "@tanstack/react-query";
import { queryClient } from "../../api/queryClient";
import type { Segment } from "../../api/types";
import { useAppShallow } from "../../store";
import { projectKey } from "./queries";

const NO_SEGMENTS: Segment[] = [];

export function useProjectDetail() {
  const { projectId, readProject } = useAppShallow((s) => ({ projectId: s.projectId, readProject: s.readProject }));
  // The client the slice writes its optimistic edits to, whatever provider is around.
  return useQuery(
    {
      queryKey: projectKey(projectId ?? ""),
      queryFn: () => readProject(projectId ?? ""),
      enabled: projectId !== null,
    },
    queryClient,
  );
}

/** The open project's segments in timeline order (none while loading). */
export function useSegments(): Segment[] {
  return useProjectDetail().data?.segments ?? NO_SEGMENTS;
}
