import { ApiError, errorMessage } from "../../api/client";
import { queryClient } from "../../api/queryClient";
import type { User } from "../../api/types";
import type { SliceCreator } from "../../store/types";

export const TOKEN_KEY = "videofoundry.token";

export interface AuthSlice {
  token: string | null;
  user: User | null;
  authError: string | null;
  authFieldErrors: Record<string, string>;
  authBusy: boolean;
  login: (email: string, password: string) => Promise<boolean>;
  register: (email: string, password: string) => Promise<boolean>;
  loadMe: () => Promise<void>;
  logout: (message?: string) => void;
}

export const createAuthSlice: SliceCreator<AuthSlice> = (set, get, { api, storage }) => ({
  token: storage?.getItem(TOKEN_KEY) ?? null,
  user: null,
  authError: null,
  authFieldErrors: {},
  authBusy: false,

  login: async (email, password) => {
    set({ authBusy: true, authError: null, authFieldErrors: {} });
    try {
      const res = await api.login(email, password);
      storage?.setItem(TOKEN_KEY, res.access_token);
      set({ token: res.access_token, authBusy: false });
      await get().loadMe();
      return true;
    } catch (err) {
      const message = err instanceof ApiError && err.status === 401 ? "Wrong email or password." : errorMessage(err);
      set({ authBusy: false, authError: message, authFieldErrors: fieldErrorsOf(err) });
      return false;
    }
  },

  register: async (email, password) => {
    set({ authBusy: true, authError: null, authFieldErrors: {} });
    try {
      await api.register(email, password);
    } catch (err) {
      const message =
        err instanceof ApiError && err.status === 409
          ? "An account with this email already exists. Sign in instead."
          : errorMessage(err);
      set({ authBusy: false, authError: message, authFieldErrors: fieldErrorsOf(err) });
      return false;
    }
    return get().login(email, password);
  },

  loadMe: async () => {
    try {
      const user = await api.me();
      set({ user });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) set({ authError: errorMessage(err) });
    }
  },

  logout: (message) => {
    storage?.removeItem(TOKEN_KEY);
    queryClient.clear(); // the next user must not see this one's cached projects
    get().stopWatching();
    set({
      token: null,
      user: null,
      authError: message ?? null,
      authFieldErrors: {},
      projectId: null,
      selectedSegmentId: null,
      activeJobId: null,
      planOpen: false,
    });
  },
});

function fieldErrorsOf(err: unknown): Record<string, string> {
  if (!(err instanceof ApiError)) return {};
  const out: Record<string, string> = {};
  for (const [field, msg] of Object.entries(err.fieldErrors)) {
    // The token endpoint calls the email "username".
    out[field === "username" ? "email" : field] = msg;
  }
  return out;
}
