/**
 * The model catalogue as TanStack Query server state: fetched once per session (it changes only
 * when the server is reconfigured), retried like any query, and read by the timeline slice from
 * the same cache when it picks a new segment's default model. Nothing of it is kept in Zustand.
 */
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/endpoints";
import { queryClient } from "../../api/queryClient";
import type { ModelInfo } from "../../api/types";

export const MODELS_KEY = ["models"] as const;

export function useModels() {
  return useQuery({ queryKey: MODELS_KEY, queryFn: () => api.listModels(), staleTime: 10 * 60_000 });
}

/** The models as last fetched (none before the first answer). */
export function cachedModels(): ModelInfo[] {
  return queryClient.getQueryData<ModelInfo[]>(MODELS_KEY) ?? [];
}
