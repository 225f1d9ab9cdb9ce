/** A tiny history-API router: the SPA has two screens, so a dependency would be overkill. */
import { useSyncExternalStore } from "react";

const listeners = new Set<() => void>();
/** The path on screen. It trails the address bar while a leave guard decides about a Back. */
let shown = window.location.pathname;
/** Asked before the screen on show is left; false keeps it (see setLeaveGuard). */
let guard: (() => Promise<boolean>) | null = null;
let leaving = false;

function show(): void {
  shown = window.location.pathname;
  for (const listener of listeners) listener();
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Run the guard once; a second leave while it is asking is dropped. */
async function mayLeave(): Promise<boolean> {
  if (!guard) return true;
  if (leaving) return false;
  leaving = true;
  try {
    return await guard();
  } finally {
    leaving = false;
  }
}

// Back and Forward cannot be cancelled: the address has already changed when popstate fires. The
// screen stays until the guard agrees, and a refusal puts the address of the screen back.
window.addEventListener("popstate", () => {
  const left = shown;
  if (window.location.pathname === left) return;
  if (!guard) return show();
  void mayLeave().then((ok) => {
    if (ok) show();
    else if (window.location.pathname !== left) window.history.pushState(null, "", left);
  });
});

/**
 * Let the screen on show decide whether it may be left (by a link, Back or Forward): the guard
 * may save first, or ask. Returns the function that removes it.
 */
export function setLeaveGuard(next: () => Promise<boolean>): () => void {
  guard = next;
  return () => {
    if (guard === next) guard = null;
  };
}

/** Go to a path; `replace` is for redirects and skips the leave guard. */
export function navigate(path: string, replace = false): void {
  if (shown === path && window.location.pathname === path) return;
  const go = () => {
    if (replace) window.history.replaceState(null, "", path);
    else window.history.pushState(null, "", path);
    show();
  };
  if (replace || !guard) go();
  else
    void mayLeave().then((ok) => {
      if (ok) go();
    });
}

export function usePathname(): string {
  return useSyncExternalStore(subscribe, () => shown);
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
