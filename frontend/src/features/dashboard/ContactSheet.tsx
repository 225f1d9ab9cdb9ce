import { useEffect, useState } from "react";
import { ApiError, errorMessage } from "../../api/client";
import { api } from "../../api/endpoints";
import type { Id } from "../../api/types";

type SheetState =
  | { state: "idle" }
  | { state: "loading" }
  | { state: "ready"; url: string }
  | { state: "missing" }
  | { state: "error"; message: string };

/**
 * The project's contact sheet (one row of frames per generated segment). The API wants the bearer
 * header, which an <img src> cannot send, so it is fetched as a blob and shown from an object URL.
 * Loaded on demand (the server builds it from the clips), and again when `refreshKey` changes.
 */
export function ContactSheet({ projectId, refreshKey }: { projectId: Id; refreshKey?: string | null }) {
  const [open, setOpen] = useState(false);
  const [sheet, setSheet] = useState<SheetState>({ state: "idle" });
  const [reloads, setReloads] = useState(0);

  // biome-ignore lint/correctness/useExhaustiveDependencies: refreshKey and reloads only trigger a new fetch
  useEffect(() => {
    if (!open) return;
    let live = true;
    let url: string | null = null;
    setSheet({ state: "loading" });
    api.getContactSheet(projectId).then(
      (blob) => {
        if (!live) return;
        url = URL.createObjectURL(blob);
        setSheet({ state: "ready", url });
      },
      (err: unknown) => {
        if (!live) return;
        if (err instanceof ApiError && err.status === 404) setSheet({ state: "missing" });
        else setSheet({ state: "error", message: errorMessage(err) });
      },
    );
    return () => {
      live = false;
      if (url) URL.revokeObjectURL(url);
    };
  }, [open, projectId, refreshKey, reloads]);

  return (
    <section className="contact-sheet" aria-label="Contact sheet">
      <div className="row between">
        <h3>Contact sheet</h3>
        <div className="row gap">
          {open && (
            <button
              type="button"
              className="small"
              onClick={() => setReloads((n) => n + 1)}
              disabled={sheet.state === "loading"}
            >
              Refresh
            </button>
          )}
          <button type="button" className="small" onClick={() => setOpen((v) => !v)} aria-expanded={open}>
            {open ? "Hide" : "Show contact sheet"}
          </button>
        </div>
      </div>
      {open && sheet.state === "loading" && <p className="muted small">Building the contact sheet…</p>}
      {open && sheet.state === "missing" && (
        <p className="muted small" data-testid="contact-sheet-missing">
          No generated clips yet: render the project first.
        </p>
      )}
      {open && sheet.state === "error" && (
        <div className="banner banner-error" role="alert">
          Could not load the contact sheet: {sheet.message}
        </div>
      )}
      {open && sheet.state === "ready" && (
        <img src={sheet.url} alt="Contact sheet: frames of each generated segment" data-testid="contact-sheet-image" />
      )}
    </section>
  );
}
