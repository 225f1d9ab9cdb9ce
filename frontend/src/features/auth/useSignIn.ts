/**
 * Signing in or creating an account as a TanStack Query mutation: its isPending and error are what
 * the login page shows. The token and the user it yields stay in the store's auth slice (client
 * session state).
 */
import { useMutation } from "@tanstack/react-query";
import { ApiError, errorMessage } from "../../api/client";
import { useAppShallow } from "../../store";

export type SignInMode = "login" | "register";

export interface SignIn {
  mode: SignInMode;
  email: string;
  password: string;
}

export function useSignIn() {
  const { login, register } = useAppShallow((s) => ({ login: s.login, register: s.register }));
  return useMutation({
    mutationFn: ({ mode, email, password }: SignIn) =>
      mode === "login" ? login(email, password) : register(email, password),
  });
}

/** The banner's message for a failed sign-in (a register that succeeded then signs in too). */
export function signInErrorMessage(err: unknown): string {
  if (err instanceof ApiError && err.status === 401) return "Wrong email or password.";
  if (err instanceof ApiError && err.status === 409)
    return "An account with this email already exists. Sign in instead.";
  return errorMessage(err);
}

/** A 422's messages by field; the token endpoint calls the email "username". */
export function signInFieldErrors(err: unknown): Record<string, string> {
  if (!(err instanceof ApiError)) return {};
  const out: Record<string, string> = {};
  for (const [field, msg] of Object.entries(err.fieldErrors)) out[field === "username" ? "email" : field] = msg;
  return out;
}
