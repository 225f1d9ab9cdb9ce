import { useCallback, useEffect, useState } from "react";
import { ApiError, errorMessage } from "../../api/client";
import type { Id, Segment } from "../../api/types";
import { ErrorBanner } from "../../components/ErrorBanner";
import { formatCost, formatSeconds } from "../../components/format";
import { navigate, setLeaveGuard } from "../../components/router";
import { useAppShallow } from "../../store";
import { RenderHistory } from "../dashboard/RenderHistory";
import { RenderPanel } from "../dashboard/RenderPanel";
import { useShownJob } from "../dashboard/useShownJob";
import { EditorWorkspace } from "../monitor/EditorWorkspace";
import { PlaybackProvider } from "../monitor/PlaybackContext";
import { SegmentClipPanel } from "../monitor/SegmentClipPanel";
import { TimeRuler } from "../monitor/TimeRuler";
import { deleteUndoably } from "../monitor/undoableDelete";
import { Inspector } from "./Inspector";
import { useModels } from "./models";
import { clearTimelineErrors, useTimelineError } from "./mutations";
import { ProjectSettings } from "./ProjectSettings";
import { withLiveState } from "./SegmentState";
import { totalDuration } from "./slice";
import { PX_PER_SECOND, Timeline } from "./Timeline";
import { useProjectDetail } from "./useProject";

const NO_SEGMENTS: Segment[] = [];
export const LEAVE_UNSAVED =
  "Some edits could not be saved (see the segment marked “Not saved” or “Changed elsewhere”). Leave anyway? They stay in this tab and are tried again when you open the project.";

function isEditable(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

export function EditorPage({ projectId }: { projectId: Id }) {
  const s = useAppShallow((st) => ({
    selectedId: st.selectedSegmentId,
    saveStates: st.saveStates,
    revisions: st.segmentRevisions,
    canUndo: st.undoStack.length > 0,
    canRedo: st.redoStack.length > 0,
    loadProject: st.loadProject,
    closeProject: st.closeProject,
    updateProject: st.updateProject,
    loadJobs: st.loadJobs,
    stopWatching: st.stopWatching,
    addSegment: st.addSegment,
    editSegment: st.editSegment,
    retrySave: st.retrySave,
    keepMyEdit: st.keepMyEdit,
    takeTheirEdit: st.takeTheirEdit,
    hasUnsavedEdits: st.hasUnsavedEdits,
    flushEdits: st.flushEdits,
    duplicateSegment: st.duplicateSegment,
    undo: st.undo,
    redo: st.redo,
  }));
  const [zoom, setZoom] = useState(PX_PER_SECOND);
  const [editingProject, setEditingProject] = useState(false);
  const { loadProject, closeProject, loadJobs, stopWatching, undo, redo } = s;
  const models = useModels();
  const detail = useProjectDetail();
  const project = detail.data ?? null;
  const segments = detail.data?.segments ?? NO_SEGMENTS;
  const activeJob = useShownJob();
  const timelineError = useTimelineError(projectId);

  useEffect(() => {
    void loadProject(projectId).then(() => loadJobs(projectId));
    return () => {
      stopWatching();
      closeProject();
    };
  }, [projectId, loadProject, closeProject, loadJobs, stopWatching]);

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

  // Leaving with an edit the server does not have yet asks first (it is also kept for a reload).
  const { hasUnsavedEdits } = s;
  useEffect(() => {
    const onBeforeUnload = (e: BeforeUnloadEvent) => {
      if (!hasUnsavedEdits()) return;
      e.preventDefault();
      e.returnValue = "";
    };
    window.addEventListener("beforeunload", onBeforeUnload);
    return () => window.removeEventListener("beforeunload", onBeforeUnload);
  }, [hasUnsavedEdits]);

  // Leaving the editor (a link, Back, Forward) sends pending edits first; one that cannot be saved
  // asks (it stays in this tab and is tried again when the project is opened).
  const { flushEdits } = s;
  useEffect(() => setLeaveGuard(async () => (await flushEdits()) || window.confirm(LEAVE_UNSAVED)), [flushEdits]);

  const current = segments.find((seg) => seg.id === s.selectedId) ?? null;
  const selected = current
    ? withLiveState(
        current,
        activeJob?.segments.find((row) => row.segment_id === current.id),
      )
    : null;
  const selectedId = selected?.id ?? null;
  const { editSegment } = s;
  const onEdit = useCallback(
    (patch: Parameters<typeof editSegment>[1]) => {
      if (selectedId) editSegment(selectedId, patch);
    },
    [selectedId, editSegment],
  );

  const shownStates = segments.map(
    (seg) =>
      withLiveState(
        seg,
        activeJob?.segments.find((row) => row.segment_id === seg.id),
      ).state,
  );
  const needRender = shownStates.filter((state) => state === "needs_render" || state === "failed").length;
  // "All clips ready" only when every clip exists: a segment still generating is not. Not "up to
  // date": a trim, a reorder or a caption since the last render changes the final video, not a clip.
  const generating = shownStates.filter((state) => state === "generating").length;
  // What a render would take, the server's figure: the detail is fetched again when a spec changes.
  const estimate = project?.render_estimate ?? null;

  if (!project) {
    const failed = detail.error
      ? detail.error instanceof ApiError && detail.error.status === 404
        ? "This project does not exist."
        : `Could not load the project: ${errorMessage(detail.error)}`
      : null;
    return (
      <main className="page">
        {failed ? <ErrorBanner message={failed} /> : <p className="muted">Loading…</p>}
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
          <h2 className="project-title">{project.name}</h2>
          <span className="muted small">
            {project.width}×{project.height} · {project.fps} fps
          </span>
          <button type="button" className="small" onClick={() => setEditingProject((v) => !v)}>
            Settings
          </button>
        </div>
        <div className="row gap">
          <span data-testid="total-duration">
            Total: <strong>{formatSeconds(totalDuration(segments))}</strong> · {segments.length} segment
            {segments.length === 1 ? "" : "s"}
          </span>
          <span
            data-testid="needs-render"
            data-count={needRender}
            className={needRender > 0 ? "badge badge-warn" : generating > 0 ? "badge" : "badge badge-ok"}
          >
            {needRender > 0
              ? `${needRender} segment${needRender === 1 ? "" : "s"} need${needRender === 1 ? "s" : ""} a render`
              : generating > 0
                ? `Generating ${generating} segment${generating === 1 ? "" : "s"}`
                : segments.length === 0
                  ? "No segments yet"
                  : "All clips ready"}
            {needRender > 0 && estimate !== null && estimate > 0 ? ` · est. ${formatCost(estimate)}` : ""}
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
          <ProjectSettings project={project} onSave={s.updateProject} onClose={() => setEditingProject(false)} />
        </section>
      )}
      <ErrorBanner message={timelineError} onDismiss={() => clearTimelineErrors(projectId)} />
      <ErrorBanner message={models.error ? `Could not load models: ${errorMessage(models.error)}` : null} />

      <PlaybackProvider segments={segments} fps={project.fps}>
        <EditorWorkspace
          side={
            selected ? (
              <>
                <SegmentClipPanel segment={selected} />
                <Inspector
                  key={`${selected.id}:${s.revisions[selected.id] ?? 0}`}
                  segment={selected}
                  models={models.data ?? []}
                  saveState={s.saveStates[selected.id]}
                  onEdit={onEdit}
                  onRetry={() => s.retrySave(selected.id)}
                  onKeepMine={() => s.keepMyEdit(selected.id)}
                  onTakeTheirs={() => s.takeTheirEdit(selected.id)}
                  onDuplicate={() => void s.duplicateSegment(selected.id)}
                  onDelete={() => deleteUndoably(selected.id)}
                />
              </>
            ) : (
              <p className="muted">Select a segment to edit it.</p>
            )
          }
        />
        <section className="card timeline-card" aria-label="Timeline editor">
          <TimeRuler />
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
      </PlaybackProvider>

      <div className="editor-columns">
        <RenderPanel />
        <RenderHistory />
      </div>
    </main>
  );
}
