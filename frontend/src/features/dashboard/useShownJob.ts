/** The job on show in the dashboard, read from the history's cache (the store keeps only its id). */
import { useQuery } from "@tanstack/react-query";
import { queryClient } from "../../api/queryClient";
import type { RenderJob } from "../../api/types";
import { useAppShallow } from "../../store";
import { jobsQuery } from "./queries";

export function useShownJob(): RenderJob | null {
  const { projectId, jobId } = useAppShallow((s) => ({ projectId: s.projectId, jobId: s.activeJobId }));
  const shown = useQuery(
    {
      ...jobsQuery(projectId ?? ""),
      // Only a reader: the history and the slice's loadJobs fetch; live events write the cache.
      enabled: false,
      select: (page) => page.items.find((j) => j.id === jobId) ?? null,
    },
    queryClient,
  );
  return (jobId && shown.data) || null;
}
