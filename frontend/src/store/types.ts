import type { StoreApi } from "zustand/vanilla";
import type { Api } from "../api/endpoints";
import type { ProgressClient, ProgressHandlers, ProgressOptions } from "../api/progress";
import type { AuthSlice } from "../features/auth/slice";
import type { DashboardSlice } from "../features/dashboard/slice";
import type { TimelineSlice } from "../features/timeline/slice";

export type AppState = AuthSlice & TimelineSlice & DashboardSlice;

/** What the slices need from outside; tests pass fakes. */
export interface Deps {
  api: Api;
  /** Where the token is kept between visits (localStorage in the browser). */
  storage: Pick<Storage, "getItem" | "setItem" | "removeItem"> | null;
  /** Where unsaved edits survive a reload: per tab (sessionStorage), so two tabs never replay
   * each other's edits. */
  draftStorage?: Pick<Storage, "getItem" | "setItem" | "removeItem"> | null;
  progress: (options: ProgressOptions, handlers: ProgressHandlers) => ProgressClient;
}

export type SetState = StoreApi<AppState>["setState"];
export type GetState = StoreApi<AppState>["getState"];
export type SliceCreator<T> = (set: SetState, get: GetState, deps: Deps) => T;
