import { useEffect, useState } from "react";
import type { Id } from "../../api/types";
import { ErrorBanner } from "../../components/ErrorBanner";
import { formatSeconds } from "../../components/format";
import { navigate } from "../../components/router";
import { useAppShallow } from "../../store";
import { RenderHistory } from "../dashboard/RenderHistory";
import { RenderPanel } from "../dashboard/RenderPanel";
import { Inspector } from "./Inspector";
import { ProjectSettings } from "./ProjectSettings";
import { totalDuration } from "./slice";
import { PX_PER_SECOND, Timeline } from "./Timeline";

function isEditable(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

export function EditorPage({ projectId }: { projectId: Id }) {
  const s = useAppShallow((st) => ({
    project: st.project,
    segments: st.segments,
    selectedId: st.selectedSegmentId,
    loading: st.timelineLoading,
    error: st.timelineError,
    models: st.models,
    modelsError: st.modelsError,
    saving: st.segmentSaving,
    fieldErrors: st.segmentFieldErrors,
    canUndo: st.undoStack.length > 0,
    canRedo: st.redoStack.length > 0,
    loadProject: st.loadProject,
    closeProject: st.closeProject,
    updateProject: st.updateProject,
    loadModels: st.loadModels,
    loadJobs: st.loadJobs,
    stopWatching: st.stopWatching,
    addSegment: st.addSegment,
    updateSegment: st.updateSegment,
    duplicateSegment: st.duplicateSegment,
    deleteSegment: st.deleteSegment,
    undo: st.undo,
    redo: st.redo,
    clearError: st.clearTimelineError,
  }));
  const [zoom, setZoom] = useState(PX_PER_SECOND);
  const [editingProject, setEditingProject] = useState(false);
  const { loadProject, closeProject, loadModels, loadJobs, stopWatching, undo, redo } = s;

  useEffect(() => {
    void loadModels();
    void loadProject(projectId).then(() => loadJobs(projectId));
    return () => {
      stopWatching();
      closeProject();
    };
  }, [projectId, loadProject, closeProject, loadModels, loadJobs, stopWatching]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey) || isEditable(e.target)) return;
      const key = e.key.toLowerCase();
      if (key === "z" && !e.shiftKey) {
        e.preventDefault();
        void undo();
      } else if ((key === "z" && e.shiftKey) || key === "y") {
        e.preventDefault();
        void redo();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [undo, redo]);

  const selected = s.segments.find((seg) => seg.id === s.selectedId) ?? null;

  if (!s.project) {
    return (
      <main className="page">
        {s.loading ? <p className="muted">Loading…</p> : <ErrorBanner message={s.error} />}
        <button type="button" onClick={() => navigate("/")}>
          ← Projects
        </button>
      </main>
    );
  }

  return (
    <main className="page editor">
      <div className="editor-head row between">
        <div className="row gap">
          <button type="button" className="link" onClick={() => navigate("/")}>
            ← Projects
          </button>
          <h2 className="project-title">{s.project.name}</h2>
          <span className="muted small">
            {s.project.width}×{s.project.height} · {s.project.fps} fps
          </span>
          <button type="button" className="small" onClick={() => setEditingProject((v) => !v)}>
            Settings
          </button>
        </div>
        <div className="row gap">
          <span data-testid="total-duration">
            Total: <strong>{formatSeconds(totalDuration(s.segments))}</strong> · {s.segments.length} segment
            {s.segments.length === 1 ? "" : "s"}
          </span>
          <button type="button" onClick={() => void undo()} disabled={!s.canUndo} title="Undo (Ctrl+Z)">
            Undo
          </button>
          <button type="button" onClick={() => void redo()} disabled={!s.canRedo} title="Redo (Ctrl+Shift+Z)">
            Redo
          </button>
          <button type="button" className="primary" onClick={() => void s.addSegment()}>
            + Add segment
          </button>
        </div>
      </div>
      {editingProject && (
        <section className="card">
          <ProjectSettings project={s.project} onSave={s.updateProject} onClose={() => setEditingProject(false)} />
        </section>
      )}
      <ErrorBanner message={s.error} onDismiss={s.clearError} />
      <ErrorBanner message={s.modelsError} />

      <section className="card timeline-card" aria-label="Timeline editor">
        <Timeline pxPerSecond={zoom} />
        <div className="row between">
          <p className="muted small">
            Drag blocks to reorder; click one to edit it. Width is proportional to duration.
          </p>
          <label className="row gap small muted">
            Zoom
            <input
              type="range"
              min={32}
              max={240}
              step={8}
              value={zoom}
              onChange={(e) => setZoom(Number(e.target.value))}
              aria-label="Timeline zoom (pixels per second)"
              style={{ width: "8rem" }}
            />
          </label>
        </div>
      </section>

      <div className="editor-columns">
        <section className="card">
          {selected ? (
            <Inspector
              key={`${selected.id}:${selected.updated_at}`}
              segment={selected}
              models={s.models}
              saving={s.saving}
              serverErrors={s.fieldErrors}
              onSave={(patch) => s.updateSegment(selected.id, patch)}
              onDuplicate={() => void s.duplicateSegment(selected.id)}
              onDelete={() => s.deleteSegment(selected.id)}
            />
          ) : (
            <p className="muted">Select a segment to edit it.</p>
          )}
        </section>
        <div className="stack">
          <RenderPanel />
          <RenderHistory />
        </div>
      </div>
    </main>
  );
}
