/** A tiny history-API router: the SPA has two screens, so a dependency would be overkill. */
import { useSyncExternalStore } from "react";

const listeners = new Set<() => void>();

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  window.addEventListener("popstate", listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener("popstate", listener);
  };
}

export function navigate(path: string, replace = false): void {
  if (window.location.pathname === path) return;
  if (replace) window.history.replaceState(null, "", path);
  else window.history.pushState(null, "", path);
  for (const listener of listeners) listener();
}

export function usePathname(): string {
  return useSyncExternalStore(subscribe, () => window.location.pathname);
}

export type Route =
  | { name: "projects" }
  | { name: "project"; id: string }
  | { name: "webhooks" }
  | { name: "notFound" };

export function matchRoute(pathname: string): Route {
  if (pathname === "/" || pathname === "/projects" || pathname === "") return { name: "projects" };
  if (pathname === "/webhooks" || pathname === "/webhooks/") return { name: "webhooks" };
  const m = /^\/projects\/([^/]+)\/?$/.exec(pathname);
  if (m?.[1]) return { name: "project", id: decodeURIComponent(m[1]) };
  return { name: "notFound" };
}
