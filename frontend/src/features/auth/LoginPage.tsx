import { type FormEvent, useState } from "react";
import { ErrorBanner } from "../../components/ErrorBanner";
import { FieldError } from "../../components/FieldError";
import { useAppStore } from "../../store";
import { type SignInMode, signInErrorMessage, signInFieldErrors, useSignIn } from "./useSignIn";

export function LoginPage() {
  const [mode, setMode] = useState<SignInMode>("login");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const notice = useAppStore((s) => s.authNotice);
  const signIn = useSignIn();
  const fieldErrors = signInFieldErrors(signIn.error);

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    signIn.mutate({ mode, email: email.trim(), password });
  };

  return (
    <main className="auth">
      <form className="card auth-card" onSubmit={onSubmit} aria-label={mode === "login" ? "Sign in" : "Create account"}>
        <h1>Video Foundry</h1>
        <div className="tabs" role="tablist">
          <button
            type="button"
            role="tab"
            aria-selected={mode === "login"}
            className={mode === "login" ? "tab active" : "tab"}
            onClick={() => setMode("login")}
          >
            Sign in
          </button>
          <button
            type="button"
            role="tab"
            aria-selected={mode === "register"}
            className={mode === "register" ? "tab active" : "tab"}
            onClick={() => setMode("register")}
          >
            Create account
          </button>
        </div>
        <ErrorBanner message={signIn.error ? signInErrorMessage(signIn.error) : notice} />
        <div className="field">
          <label htmlFor="auth-email">Email</label>
          <input
            id="auth-email"
            type="email"
            autoComplete="email"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
          <FieldError message={fieldErrors.email} />
        </div>
        <div className="field">
          <label htmlFor="auth-password">Password</label>
          <input
            id="auth-password"
            type="password"
            autoComplete={mode === "login" ? "current-password" : "new-password"}
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
          <FieldError message={fieldErrors.password} />
        </div>
        <button type="submit" className="primary" disabled={signIn.isPending}>
          {signIn.isPending ? "…" : mode === "login" ? "Sign in" : "Create account"}
        </button>
      </form>
    </main>
  );
}
