import { queryClient } from "../../api/queryClient";
import type { User } from "../../api/types";
import type { SliceCreator } from "../../store/types";

export const TOKEN_KEY = "videofoundry.token";

export interface AuthSlice {
  token: string | null;
  user: User | null;
  /** Why the login page is on show (an expired session); a failed sign-in is its mutation's error. */
  authNotice: string | null;
  /** Sign in and keep the token; rejects with the server's error (useSignIn shows it). */
  login: (email: string, password: string) => Promise<void>;
  register: (email: string, password: string) => Promise<void>;
  loadMe: () => Promise<void>;
  logout: (message?: string) => void;
}

export const createAuthSlice: SliceCreator<AuthSlice> = (set, get, { api, storage }) => ({
  token: storage?.getItem(TOKEN_KEY) ?? null,
  user: null,
  authNotice: null,

  login: async (email, password) => {
    const res = await api.login(email, password);
    storage?.setItem(TOKEN_KEY, res.access_token);
    set({ token: res.access_token, authNotice: null });
    await get().loadMe();
  },

  register: async (email, password) => {
    await api.register(email, password);
    await get().login(email, password);
  },

  loadMe: async () => {
    try {
      set({ user: await api.me() });
    } catch {
      // Signed in all the same: the header goes without the email (a 401 has signed out already).
    }
  },

  logout: (message) => {
    storage?.removeItem(TOKEN_KEY);
    queryClient.clear(); // the next user must not see this one's cached projects
    get().stopWatching();
    set({
      token: null,
      user: null,
      authNotice: message ?? null,
      projectId: null,
      selectedSegmentId: null,
      activeJobId: null,
      planOpen: false,
    });
  },
});
