import { ApiError, errorMessage } from "../../api/client";
import type {
  Id,
  ModelInfo,
  Project,
  ProjectDetail,
  ProjectUpdate,
  Segment,
  SegmentCreate,
  SegmentUpdate,
} from "../../api/types";
import type { GetState, SetState, SliceCreator } from "../../store/types";
import { AutosaveQueue, type SaveState } from "./autosave";
import { cachedModels } from "./models";
import { GENERATIVE_FIELDS } from "./SegmentState";

/** The model a new segment gets: "procedural" when usable, else the first available one. */
export function defaultModel(models: ModelInfo[]): ModelInfo | undefined {
  return models.find((m) => m.id === "procedural" && m.available) ?? models.find((m) => m.available);
}

export function defaultDuration(model: ModelInfo | undefined): number {
  if (!model) return 2;
  if (model.durations && model.durations.length > 0) return model.durations[0] ?? 2;
  return Math.min(Math.max(2, model.min_duration), model.max_duration);
}

// ---------------------------------------------------------------------------------------------
// Timeline

/** One undoable edit. Entries are recorded by actions, never by the undo/redo themselves. */
export interface HistoryEntry {
  label: string;
  /** Fold a follow-up edit into this entry instead of pushing another (typing). */
  coalesce?: (patch: SegmentUpdate) => boolean;
  /** Segment ids the entry touches, so deleting a segment drops entries that cannot apply. */
  segmentIds: Id[];
  undo: () => Promise<boolean>;
  redo: () => Promise<boolean>;
}

const HISTORY_LIMIT = 100;

export interface TimelineSlice {
  project: Project | null;
  segments: Segment[];
  selectedSegmentId: Id | null;
  timelineLoading: boolean;
  timelineError: string | null;
  segmentSaving: boolean;
  /** Field errors from the last failed save of the selected segment, keyed by field path. */
  segmentFieldErrors: Record<string, string>;
  undoStack: HistoryEntry[];
  redoStack: HistoryEntry[];
  /** Autosave state per segment with edits not yet confirmed (absent: saved). */
  saveStates: Record<Id, SaveState>;
  /** Bumped when a segment changes other than by typing in the inspector (undo, a conflict
   * resolved, a reload), so the inspector starts again from the segment. */
  segmentRevisions: Record<Id, number>;

  loadProject: (id: Id) => Promise<void>;
  /** Apply an edit now and save it in the background (debounced, If-Match, undoable). */
  editSegment: (id: Id, patch: SegmentUpdate, options?: { record?: boolean }) => void;
  /** Save every pending edit now; false when some could not be saved. */
  flushEdits: () => Promise<boolean>;
  hasUnsavedEdits: () => boolean;
  retrySave: (id: Id) => void;
  keepMyEdit: (id: Id) => void;
  takeTheirEdit: (id: Id) => void;
  closeProject: () => void;
  /** Rename or change the output format; returns field errors (empty on success). */
  updateProject: (patch: ProjectUpdate) => Promise<Record<string, string>>;
  selectSegment: (id: Id | null) => void;
  addSegment: (init?: Partial<SegmentCreate>) => Promise<Segment | null>;
  updateSegment: (id: Id, patch: SegmentUpdate, options?: { record?: boolean }) => Promise<boolean>;
  duplicateSegment: (id: Id) => Promise<Segment | null>;
  deleteSegment: (id: Id) => Promise<boolean>;
  /** Optimistically apply a new order, send it in one call, roll back if the call fails. */
  reorderSegments: (ids: Id[], options?: { record?: boolean }) => Promise<boolean>;
  /** Move `activeId` to where `overId` is (drag and drop). */
  moveSegment: (activeId: Id, overId: Id) => Promise<boolean>;
  undo: () => Promise<void>;
  redo: () => Promise<void>;
  clearTimelineError: () => void;
}

/** The timeline's length: each segment's trimmed length (what the server's total_duration says). */
export function totalDuration(segments: readonly Segment[]): number {
  return segments.reduce((sum, s) => sum + Math.max(0, (s.trim_end ?? s.duration) - (s.trim_start ?? 0)), 0);
}

/** Move the item at `from` to index `to` (like @dnd-kit/sortable's arrayMove). */
export function arrayMove<T>(items: readonly T[], from: number, to: number): T[] {
  const next = items.slice();
  const [item] = next.splice(from, 1);
  if (item === undefined) return next;
  next.splice(to, 0, item);
  return next;
}

function withPositions(segments: Segment[]): Segment[] {
  return segments.map((s, i) => (s.position === i ? s : { ...s, position: i }));
}

function projectOf(detail: ProjectDetail): Project {
  const { segments: _segments, ...project } = detail;
  return project;
}

/** The previous order, keeping only ids that still exist and appending newer ones at the end. */
function restorableOrder(previous: Id[], current: Id[]): Id[] {
  const alive = new Set(current);
  const kept = previous.filter((id) => alive.has(id));
  const keptSet = new Set(kept);
  return [...kept, ...current.filter((id) => !keptSet.has(id))];
}

function pushHistory(set: SetState, get: GetState, entry: HistoryEntry): void {
  set({ undoStack: [...get().undoStack, entry].slice(-HISTORY_LIMIT), redoStack: [] });
}

/** The segment as the user sees it: the server's copy with the edits not confirmed yet. */
function withPending(segment: Segment, pending: SegmentUpdate | null): Segment {
  return pending ? ({ ...segment, ...pending } as Segment) : segment;
}

export const createTimelineSlice: SliceCreator<TimelineSlice> = (set, get, { api, draftStorage }) => {
  /** Bumped on every reorder, so only the latest one rolls back or applies the server's answer. */
  let reorderGeneration = 0;
  const bump = (id: Id) =>
    set({ segmentRevisions: { ...get().segmentRevisions, [id]: (get().segmentRevisions[id] ?? 0) + 1 } });

  const autosave = new AutosaveQueue({
    save: (id, patch, version) => api.updateSegment(id, patch, version),
    versionOf: (id) => get().segments.find((s) => s.id === id)?.version,
    onSaved: (saved) => {
      const pending = autosave.pendingOf(saved.id);
      const segments = get().segments.map((s) =>
        s.id === saved.id ? withPending({ ...saved, position: s.position }, pending) : s,
      );
      set({ segments });
      bumpProject(segments);
    },
    onState: (id, state) => {
      const next = { ...get().saveStates };
      if (state.status === "saved") delete next[id];
      else next[id] = state;
      set({ saveStates: next });
    },
    storage: draftStorage ?? null,
    storageKey: "vf.autosave.segments",
  });

  const bumpProject = (segments: Segment[]) => {
    const project = get().project;
    if (!project) return;
    set({ project: { ...project, segment_count: segments.length, total_duration: totalDuration(segments) } });
  };

  return {
    project: null,
    segments: [],
    selectedSegmentId: null,
    timelineLoading: false,
    timelineError: null,
    segmentSaving: false,
    segmentFieldErrors: {},
    undoStack: [],
    redoStack: [],
    saveStates: {},
    segmentRevisions: {},

    editSegment: (id, patch, options = {}) => {
      const before = get().segments.find((s) => s.id === id);
      if (!before || Object.keys(patch).length === 0) return;
      // A change of what decides the pixels needs a render: say so now, not after the save.
      const regenerate = GENERATIVE_FIELDS.some((k) => k in patch);
      const segments = get().segments.map((s) =>
        s.id === id
          ? ({
              ...s,
              ...patch,
              ...(regenerate ? { state: "needs_render", state_progress: null, state_error: null, clip_url: null } : {}),
            } as Segment)
          : s,
      );
      set({ segments, timelineError: null });
      bumpProject(segments);
      autosave.edit(id, patch);
      if (options.record === false) return;
      const previous: Record<string, unknown> = {};
      for (const key of Object.keys(patch)) previous[key] = before[key as keyof Segment];
      const top = get().undoStack[get().undoStack.length - 1];
      // Typing a sentence is one step of undo, not one per pause.
      if (top?.label === "Edit segment" && top.segmentIds[0] === id && top.coalesce?.(patch)) return;
      const keys = Object.keys(patch);
      let redoPatch: SegmentUpdate = patch;
      pushHistory(set, get, {
        label: "Edit segment",
        segmentIds: [id],
        coalesce: (next) => {
          if (!Object.keys(next).every((k) => keys.includes(k))) return false;
          redoPatch = { ...redoPatch, ...next };
          return true;
        },
        undo: async () => {
          get().editSegment(id, previous as SegmentUpdate, { record: false });
          bump(id);
          return true;
        },
        redo: async () => {
          get().editSegment(id, redoPatch, { record: false });
          bump(id);
          return true;
        },
      });
    },

    flushEdits: () => autosave.flush(),
    hasUnsavedEdits: () => autosave.hasUnsaved(),
    retrySave: (id) => void autosave.retry(id),
    keepMyEdit: (id) => void autosave.keepMine(id),
    takeTheirEdit: (id) => {
      autosave.takeTheirs(id);
      bump(id);
    },

    loadProject: async (id) => {
      const keepSelection = get().project?.id === id ? get().selectedSegmentId : null;
      set({ timelineLoading: true, timelineError: null });
      try {
        const detail = await api.getProject(id);
        // Edits left unsaved by a previous page (or still saving) are resumed and shown.
        autosave.restore(new Set(detail.segments.map((s) => s.id)));
        const segments = [...detail.segments]
          .sort((a, b) => a.position - b.position)
          .map((s) => withPending(s, autosave.pendingOf(s.id)));
        const selected =
          keepSelection && segments.some((s) => s.id === keepSelection) ? keepSelection : (segments[0]?.id ?? null);
        const switching = get().project?.id !== id;
        set({
          project: projectOf(detail),
          segments,
          selectedSegmentId: selected,
          timelineLoading: false,
          segmentRevisions: Object.fromEntries(segments.map((s) => [s.id, (get().segmentRevisions[s.id] ?? 0) + 1])),
          ...(switching ? { undoStack: [], redoStack: [], segmentFieldErrors: {} } : {}),
        });
      } catch (err) {
        set({
          timelineLoading: false,
          timelineError:
            err instanceof ApiError && err.status === 404 ? "This project does not exist." : errorMessage(err),
        });
      }
    },

    closeProject: () => {
      set({
        project: null,
        segments: [],
        selectedSegmentId: null,
        timelineError: null,
        segmentFieldErrors: {},
        undoStack: [],
        redoStack: [],
      });
    },

    updateProject: async (patch) => {
      const project = get().project;
      if (!project) return {};
      try {
        const updated = await api.updateProject(project.id, patch, project.version);
        set({ project: { ...updated, segment_count: project.segment_count, total_duration: project.total_duration } });
        return {};
      } catch (err) {
        if (err instanceof ApiError && err.status === 412) {
          // Changed in another tab: show what is there now rather than overwrite it.
          await get().loadProject(project.id);
          return { _: "These settings were changed elsewhere meanwhile; they are reloaded, check and save again." };
        }
        if (err instanceof ApiError && Object.keys(err.fieldErrors).length > 0) return err.fieldErrors;
        return { _: errorMessage(err) };
      }
    },

    selectSegment: (id) => set({ selectedSegmentId: id, segmentFieldErrors: {} }),

    addSegment: async (init = {}) => {
      const project = get().project;
      if (!project) return null;
      const models = cachedModels();
      const model = models.find((m) => m.id === init.model) ?? defaultModel(models);
      const body: SegmentCreate = {
        prompt: init.prompt ?? `Shot ${get().segments.length + 1}`,
        model: init.model ?? model?.id ?? "procedural",
        duration: init.duration ?? defaultDuration(model),
        ...(init.params ? { params: init.params } : {}),
        ...(init.seed !== undefined ? { seed: init.seed } : {}),
        ...(init.negative_prompt !== undefined ? { negative_prompt: init.negative_prompt } : {}),
      };
      set({ timelineError: null });
      try {
        const segment = await api.createSegment(project.id, body);
        const segments = withPositions(
          [...get().segments.filter((s) => s.id !== segment.id), segment].sort((a, b) => a.position - b.position),
        );
        set({ segments, selectedSegmentId: segment.id, segmentFieldErrors: {} });
        bumpProject(segments);
        return segment;
      } catch (err) {
        set({ timelineError: `Could not add a segment: ${errorMessage(err)}` });
        return null;
      }
    },

    updateSegment: async (id, patch, options = {}) => {
      const before = get().segments.find((s) => s.id === id);
      if (!before) return false;
      set({ segmentSaving: true, segmentFieldErrors: {}, timelineError: null });
      try {
        const updated = await api.updateSegment(id, patch);
        const segments = get().segments.map((s) => (s.id === id ? { ...updated, position: s.position } : s));
        set({ segments, segmentSaving: false });
        bumpProject(segments);
        if (options.record !== false) {
          const previous: SegmentUpdate = {};
          const prev = previous as Record<string, unknown>;
          for (const key of Object.keys(patch) as (keyof SegmentUpdate)[]) {
            prev[key] = before[key];
          }
          pushHistory(set, get, {
            label: "Edit segment",
            segmentIds: [id],
            undo: () => get().updateSegment(id, previous, { record: false }),
            redo: () => get().updateSegment(id, patch, { record: false }),
          });
        }
        return true;
      } catch (err) {
        if (err instanceof ApiError && Object.keys(err.fieldErrors).length > 0) {
          set({ segmentSaving: false, segmentFieldErrors: err.fieldErrors, timelineError: null });
        } else {
          set({ segmentSaving: false, timelineError: `Could not save the segment: ${errorMessage(err)}` });
        }
        return false;
      }
    },

    duplicateSegment: async (id) => {
      set({ timelineError: null });
      try {
        const copy = await api.duplicateSegment(id);
        const segments = get().segments.slice();
        const index = segments.findIndex((s) => s.id === id);
        segments.splice(index < 0 ? segments.length : index + 1, 0, copy);
        const ordered = withPositions(segments);
        set({ segments: ordered, selectedSegmentId: copy.id, segmentFieldErrors: {} });
        bumpProject(ordered);
        return copy;
      } catch (err) {
        set({ timelineError: `Could not duplicate the segment: ${errorMessage(err)}` });
        return null;
      }
    },

    deleteSegment: async (id) => {
      const before = get().segments;
      const index = before.findIndex((s) => s.id === id);
      if (index < 0) return false;
      const segments = withPositions(before.filter((s) => s.id !== id));
      const selected =
        get().selectedSegmentId === id
          ? (segments[Math.min(index, segments.length - 1)]?.id ?? null)
          : get().selectedSegmentId;
      set({ segments, selectedSegmentId: selected, timelineError: null });
      bumpProject(segments);
      try {
        await api.deleteSegment(id);
        autosave.forget(id);
        set({
          undoStack: get().undoStack.filter((e) => !e.segmentIds.includes(id)),
          redoStack: get().redoStack.filter((e) => !e.segmentIds.includes(id)),
        });
        return true;
      } catch (err) {
        set({ segments: before, selectedSegmentId: id, timelineError: `Could not delete: ${errorMessage(err)}` });
        bumpProject(before);
        return false;
      }
    },

    reorderSegments: async (ids, options = {}) => {
      const project = get().project;
      const before = get().segments;
      if (!project) return false;
      const byId = new Map(before.map((s) => [s.id, s]));
      if (ids.length !== before.length || ids.some((id) => !byId.has(id))) {
        set({ timelineError: "The timeline changed meanwhile; reloaded it." });
        await get().loadProject(project.id);
        return false;
      }
      const previousIds = before.map((s) => s.id);
      if (ids.every((id, i) => id === previousIds[i])) return true;
      const generation = ++reorderGeneration;
      set({ segments: withPositions(ids.map((id) => byId.get(id) as Segment)), timelineError: null });
      try {
        const detail = await api.reorderSegments(project.id, ids);
        if (generation === reorderGeneration) {
          set({ segments: [...detail.segments].sort((a, b) => a.position - b.position), project: projectOf(detail) });
        }
        if (options.record !== false) {
          pushHistory(set, get, {
            label: "Reorder segments",
            segmentIds: [],
            undo: () =>
              get().reorderSegments(
                restorableOrder(
                  previousIds,
                  get().segments.map((s) => s.id),
                ),
                { record: false },
              ),
            redo: () =>
              get().reorderSegments(
                restorableOrder(
                  ids,
                  get().segments.map((s) => s.id),
                ),
                { record: false },
              ),
          });
        }
        return true;
      } catch (err) {
        if (generation === reorderGeneration) {
          set({ segments: before, timelineError: `Could not reorder: ${errorMessage(err)}` });
        } else {
          // A later reorder is in flight; its own answer decides. Refresh to be certain.
          set({ timelineError: `Could not reorder: ${errorMessage(err)}` });
          await get().loadProject(project.id);
        }
        return false;
      }
    },

    moveSegment: async (activeId, overId) => {
      if (activeId === overId) return true;
      const ids = get().segments.map((s) => s.id);
      const from = ids.indexOf(activeId);
      const to = ids.indexOf(overId);
      if (from < 0 || to < 0) return false;
      return get().reorderSegments(arrayMove(ids, from, to));
    },

    undo: async () => {
      const stack = get().undoStack;
      const entry = stack[stack.length - 1];
      if (!entry) return;
      set({ undoStack: stack.slice(0, -1) });
      const ok = await entry.undo();
      if (ok) set({ redoStack: [...get().redoStack, entry] });
    },

    redo: async () => {
      const stack = get().redoStack;
      const entry = stack[stack.length - 1];
      if (!entry) return;
      set({ redoStack: stack.slice(0, -1) });
      const ok = await entry.redo();
      if (ok) set({ undoStack: [...get().undoStack, entry] });
    },

    clearTimelineError: () => set({ timelineError: null }),
  };
};
