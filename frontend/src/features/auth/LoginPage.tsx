import { type FormEvent, useState } from "react";
import { ErrorBanner } from "../../components/ErrorBanner";
import { FieldError } from "../../components/FieldError";
import { useAppShallow } from "../../store";

export function LoginPage() {
  const [mode, setMode] = useState<"login" | "register">("login");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const { login, register, authError, authFieldErrors, authBusy } = useAppShallow((s) => ({
    login: s.login,
    register: s.register,
    authError: s.authError,
    authFieldErrors: s.authFieldErrors,
    authBusy: s.authBusy,
  }));

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    if (mode === "login") void login(email.trim(), password);
    else void register(email.trim(), password);
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
        <ErrorBanner message={authError} />
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
          <FieldError message={authFieldErrors.email} />
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
          <FieldError message={authFieldErrors.password} />
        </div>
        <button type="submit" className="primary" disabled={authBusy}>
          {authBusy ? "…" : mode === "login" ? "Sign in" : "Create account"}
        </button>
      </form>
    </main>
  );
}
