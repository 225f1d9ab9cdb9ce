/**
 * One store of slices (zustand's slices pattern): each feature owns its slice in
 * features/<name>/slice.ts and this module binds them. `createAppStore` builds a fresh store
 * with injected dependencies (tests pass fakes); the app uses the `appStore` singleton.
 */
import { useStore } from "zustand";
import { useShallow } from "zustand/react/shallow";
import { createStore, type StoreApi } from "zustand/vanilla";
import { configureClient } from "../api/client";
import { api } from "../api/endpoints";
import { ProgressClient } from "../api/progress";
import { createAuthSlice } from "../features/auth/slice";
import { createDashboardSlice } from "../features/dashboard/slice";
import { createTimelineSlice } from "../features/timeline/slice";
import type { AppState, Deps } from "./types";

export type { AppState, Deps } from "./types";

export function createAppStore(overrides: Partial<Deps> = {}): StoreApi<AppState> {
  const deps: Deps = {
    api,
    storage: typeof window !== "undefined" ? window.localStorage : null,
    draftStorage: typeof window !== "undefined" ? window.sessionStorage : null,
    progress: (options, handlers) => new ProgressClient(options, handlers),
    ...overrides,
  };
  return createStore<AppState>()((set, get) => ({
    ...createAuthSlice(set, get, deps),
    ...createTimelineSlice(set, get, deps),
    ...createDashboardSlice(set, get, deps),
  }));
}

export const appStore = createAppStore();

configureClient({
  getToken: () => appStore.getState().token,
  onUnauthorized: () => appStore.getState().logout("Your session expired. Please sign in again."),
});

/** Select one value (or a stable reference) from the store. */
export function useAppStore<T>(selector: (state: AppState) => T): T {
  return useStore(appStore, selector);
}

/** Select several values at once without re-rendering when none of them changed. */
export function useAppShallow<T extends object>(selector: (state: AppState) => T): T {
  return useStore(appStore, useShallow(selector));
}
