/**
 * The render plan, starting and cancelling as TanStack Query server state: the plan is a query
 * kept under its project's key (so whatever invalidates the detail invalidates the plan too),
 * start and cancel are mutations whose pending and error states the panel shows. The store keeps
 * only the client's choices: whether the plan is on show and which job is shown.
 */
import { useMutation, useQuery } from "@tanstack/react-query";
import { queryClient } from "../../api/queryClient";
import type { RenderPlan } from "../../api/types";
import { useAppShallow, useAppStore } from "../../store";
import { planKey } from "./queries";

/** The open project's plan while it is on show (no request when it is not). */
export function useRenderPlan() {
  const { projectId, planOpen, planRender } = useAppShallow((s) => ({
    projectId: s.projectId,
    planOpen: s.planOpen,
    planRender: s.planRender,
  }));
  return useQuery(
    {
      queryKey: planKey(projectId ?? ""),
      queryFn: planRender,
      enabled: projectId !== null && planOpen,
      // A plan is asked for on purpose; an unsaved edit or a refusal is shown, not retried. It
      // changes with the project only, and the project's invalidations reach it.
      retry: false,
      refetchOnWindowFocus: false,
    },
    queryClient,
  );
}

/** The plan on show: none while it is closed or being asked again. */
export function useShownPlan(): RenderPlan | undefined {
  const plan = useRenderPlan();
  const planOpen = useAppStore((s) => s.planOpen);
  return planOpen && !plan.isFetching ? plan.data : undefined;
}

export function useStartRender() {
  const startRender = useAppStore((s) => s.startRender);
  return useMutation({ mutationFn: startRender }, queryClient);
}

export function useCancelRender() {
  const cancelRender = useAppStore((s) => s.cancelRender);
  return useMutation({ mutationFn: cancelRender }, queryClient);
}
