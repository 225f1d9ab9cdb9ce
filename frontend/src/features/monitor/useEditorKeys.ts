/**
 * The editor's keyboard: Space play/pause, arrows step a frame (Shift: a second), Home/End,
 * Delete removes the selected segment (undoable, like every timeline edit). Ctrl/Cmd+Z and
 * Ctrl/Cmd+Shift+Z are EditorPage's. Keys typed into a field are left alone. Space plays even on a
 * focused timeline block (clicking one focuses it); Enter picks a block up to move it by keyboard.
 */
import { useEffect, useRef } from "react";
import { appStore } from "../../store";
import type { Playback } from "./PlaybackContext";
import { deleteUndoably } from "./undoableDelete";

function isEditable(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

/**
 * A timeline block picked up for a keyboard move (Enter; dnd-kit marks it aria-pressed): its
 * arrows and keys belong to the move, not to the monitor.
 */
function isBeingMoved(target: EventTarget | null): boolean {
  return target instanceof HTMLElement && target.getAttribute("aria-pressed") === "true";
}

export function useEditorKeys(playback: Playback): void {
  // The listener is installed once; it reads the latest timeline through this ref.
  const latest = useRef(playback);
  latest.current = playback;

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey || isEditable(e.target) || isBeingMoved(e.target)) return;
      const { clock, fps, duration } = latest.current;
      let handled = true;
      switch (e.key) {
        case " ":
          clock.toggle();
          break;
        case "ArrowRight":
          if (e.shiftKey) clock.seek(clock.state.time + 1);
          else clock.step(1, fps);
          break;
        case "ArrowLeft":
          if (e.shiftKey) clock.seek(clock.state.time - 1);
          else clock.step(-1, fps);
          break;
        case "Home":
          clock.pause();
          clock.seek(0);
          break;
        case "End":
          clock.pause();
          clock.seek(duration);
          break;
        case "Delete":
        case "Backspace": {
          const { selectedSegmentId } = appStore.getState();
          if (selectedSegmentId) void deleteUndoably(selectedSegmentId);
          else handled = false;
          break;
        }
        default:
          handled = false;
      }
      if (!handled) return;
      // Captured before the focused element sees it: Space on a focused timeline block would
      // otherwise pick it up for a keyboard drag, and on a button would click it.
      e.preventDefault();
      e.stopPropagation();
    };
    // A button clicks on Space's keyup: swallow that too, or Space would toggle twice.
    const onKeyUp = (e: KeyboardEvent) => {
      if (e.key === " " && !isEditable(e.target)) e.preventDefault();
    };
    window.addEventListener("keydown", onKey, { capture: true });
    window.addEventListener("keyup", onKeyUp, { capture: true });
    return () => {
      window.removeEventListener("keydown", onKey, { capture: true });
      window.removeEventListener("keyup", onKeyUp, { capture: true });
    };
  }, []);
}
