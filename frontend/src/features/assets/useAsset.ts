import { useEffect, useState } from "react";
import { errorMessage } from "../../api/client";
import { api } from "../../api/endpoints";
import type { Asset, Id } from "../../api/types";

/** Signed media URLs last hours; refetch well before that. */
const TTL_MS = 10 * 60 * 1000;
const cache = new Map<Id, { asset: Asset; at: number }>();

/** Keep an asset the UI just received (an upload answer), so its preview shows at once. */
export function rememberAsset(asset: Asset): void {
  cache.set(asset.id, { asset, at: Date.now() });
}

export function forgetAssets(): void {
  cache.clear();
}

function cached(id: Id | null): Asset | null {
  if (!id) return null;
  const hit = cache.get(id);
  return hit && Date.now() - hit.at < TTL_MS ? hit.asset : null;
}

export interface AssetState {
  asset: Asset | null;
  loading: boolean;
  error: string | null;
}

/** The asset's facts (URL, size, duration) for an id, fetched once and cached. */
export function useAsset(id: Id | null): AssetState {
  const [state, setState] = useState<AssetState>(() => ({ asset: cached(id), loading: false, error: null }));

  useEffect(() => {
    const hit = cached(id);
    if (!id || hit) {
      setState({ asset: hit, loading: false, error: null });
      return;
    }
    let live = true;
    setState({ asset: null, loading: true, error: null });
    api.getAsset(id).then(
      (asset) => {
        rememberAsset(asset);
        if (live) setState({ asset, loading: false, error: null });
      },
      (err: unknown) => {
        if (live) setState({ asset: null, loading: false, error: errorMessage(err) });
      },
    );
    return () => {
      live = false;
    };
  }, [id]);

  return state;
}
