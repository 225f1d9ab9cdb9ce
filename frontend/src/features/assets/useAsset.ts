/** An asset's facts (URL, size, duration) by id as TanStack Query server state. */
import { type QueryClient, useQuery } from "@tanstack/react-query";
import { errorMessage } from "../../api/client";
import { api } from "../../api/endpoints";
import type { Asset, Id } from "../../api/types";

/** Signed media URLs last hours; ask again well before that. */
const TTL_MS = 10 * 60 * 1000;

const assetKey = (id: Id | null) => ["assets", id] as const;

/** Keep an asset the UI just received (an upload answer), so its preview shows without asking. */
export function rememberAsset(client: QueryClient, asset: Asset): void {
  client.setQueryData(assetKey(asset.id), asset);
}

export interface AssetState {
  asset: Asset | null;
  loading: boolean;
  error: string | null;
}

export function useAsset(id: Id | null): AssetState {
  const query = useQuery({
    queryKey: assetKey(id),
    queryFn: () => api.getAsset(id as Id),
    enabled: id !== null,
    staleTime: TTL_MS,
  });
  return {
    asset: id === null ? null : (query.data ?? null),
    loading: query.isLoading,
    error: query.error ? errorMessage(query.error) : null,
  };
}
