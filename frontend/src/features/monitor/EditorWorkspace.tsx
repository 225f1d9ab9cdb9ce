/**
 * The editor's working area: the monitor in the centre, the side panel (inspector, clip, takes)
 * at the right, collapsible to give the monitor the width. Below 900 px they stack.
 */
import { type ReactNode, useState } from "react";
import { Monitor } from "./Monitor";

export function EditorWorkspace({ side }: { side: ReactNode }) {
  const [open, setOpen] = useState(true);
  return (
    <div className={open ? "editor-workspace" : "editor-workspace side-collapsed"}>
      <section className="editor-stage" aria-label="Monitor">
        <Monitor />
      </section>
      <aside className="editor-side card" aria-label="Inspector">
        <button
          type="button"
          className="small side-toggle"
          onClick={() => setOpen((v) => !v)}
          aria-expanded={open}
          title={open ? "Collapse the inspector" : "Show the inspector"}
          data-testid="toggle-inspector"
        >
          {open ? "⇥" : "⇤"}
        </button>
        {open && side}
      </aside>
    </div>
  );
}
