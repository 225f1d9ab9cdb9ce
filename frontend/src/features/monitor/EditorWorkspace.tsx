/**
 * The editor's working area: the monitor in the centre, the side panel (inspector, clip, takes)
 * at the right, collapsible to give the monitor the width. Below 900 px they stack, and the side
 * panel is always open there: collapsing sideways would give the monitor nothing.
 */
import { type ReactNode, useState, useSyncExternalStore } from "react";
import { Monitor } from "./Monitor";

/** Where editor.css stacks the workspace (keep the two in step). */
const STACKED = "(max-width: 900px)";

function useStacked(): boolean {
  return useSyncExternalStore(
    (onChange) => {
      const query = window.matchMedia?.(STACKED);
      query?.addEventListener("change", onChange);
      return () => query?.removeEventListener("change", onChange);
    },
    () => window.matchMedia?.(STACKED).matches ?? false,
  );
}

export function EditorWorkspace({ side }: { side: ReactNode }) {
  const [collapsed, setCollapsed] = useState(false);
  const stacked = useStacked();
  const open = stacked || !collapsed;
  return (
    <div className={open ? "editor-workspace" : "editor-workspace side-collapsed"}>
      <section className="editor-stage" aria-label="Monitor">
        <Monitor />
      </section>
      <aside className="editor-side card" aria-label="Inspector">
        {!stacked && (
          <button
            type="button"
            className="small side-toggle"
            onClick={() => setCollapsed((v) => !v)}
            aria-expanded={open}
            title={open ? "Collapse the inspector" : "Show the inspector"}
            data-testid="toggle-inspector"
          >
            {open ? "⇥" : "⇤"}
          </button>
        )}
        {open && side}
      </aside>
    </div>
  );
}
