import { useEffect } from "react";
import { matchRoute, navigate, usePathname } from "./components/router";
import { LoginPage } from "./features/auth/LoginPage";
import { ProjectsPage } from "./features/projects/ProjectsPage";
import { EditorPage } from "./features/timeline/EditorPage";
import { WebhooksPage } from "./features/webhooks/WebhooksPage";
import { useAppShallow } from "./store";

export function App() {
  const { token, user, loadMe, logout } = useAppShallow((s) => ({
    token: s.token,
    user: s.user,
    loadMe: s.loadMe,
    logout: s.logout,
  }));
  const route = matchRoute(usePathname());

  useEffect(() => {
    if (token && !user) void loadMe();
  }, [token, user, loadMe]);

  if (!token) return <LoginPage />;

  return (
    <div className="app">
      <header className="topbar">
        <a
          href="/"
          className="brand"
          onClick={(e) => {
            e.preventDefault();
            navigate("/");
          }}
        >
          Video Foundry
        </a>
        <div className="row gap">
          <a
            href="/webhooks"
            className="small"
            onClick={(e) => {
              e.preventDefault();
              navigate("/webhooks");
            }}
          >
            Webhooks
          </a>
          <span className="muted small" data-testid="user-email">
            {user?.email ?? ""}
          </span>
          <button type="button" className="small" onClick={() => logout()}>
            Sign out
          </button>
        </div>
      </header>
      {route.name === "projects" && <ProjectsPage />}
      {route.name === "project" && <EditorPage key={route.id} projectId={route.id} />}
      {route.name === "webhooks" && <WebhooksPage />}
      {route.name === "notFound" && (
        <main className="page">
          <p>Page not found.</p>
          <button type="button" onClick={() => navigate("/")}>
            Go to projects
          </button>
        </main>
      )}
    </div>
  );
}
