import { ApiError } from "../../api/client";
import { queryClient } from "../../api/queryClient";
import type {
  Id,
  ModelInfo,
  ProjectDetail,
  ProjectUpdate,
  Segment,
  SegmentCreate,
  SegmentUpdate,
} from "../../api/types";
import type { GetState, SetState, SliceCreator } from "../../store/types";
import { AutosaveQueue, type SaveState } from "./autosave";
import { cachedModels } from "./models";
import { clearTimelineErrors, runTimelineMutation } from "./mutations";
import { cachedDetail, projectKey, projectOf } from "./queries";
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
  /** The project open in the editor; its detail is server state (./queries, ["project", id]). */
  projectId: Id | null;
  selectedSegmentId: Id | null;
  undoStack: HistoryEntry[];
  redoStack: HistoryEntry[];
  /** Autosave state per segment with edits not yet confirmed (absent: saved). */
  saveStates: Record<Id, SaveState>;
  /** Bumped when a segment changes other than by typing in the inspector (undo, a conflict
   * resolved, another tab's edit fetched), so the inspector starts again from the segment. */
  segmentRevisions: Record<Id, number>;

  /** The query function of ["project", id]: the server's detail with this tab's unsaved edits. */
  readProject: (id: Id) => Promise<ProjectDetail>;
  /** Open a project (or fetch it again) and select a segment of it. */
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
  /** Rename or change the output format; rejects as the server refuses (on a 412 after reloading). */
  updateProject: (patch: ProjectUpdate) => Promise<void>;
  selectSegment: (id: Id | null) => void;
  addSegment: (init?: Partial<SegmentCreate>) => Promise<Segment | null>;
  duplicateSegment: (id: Id) => Promise<Segment | null>;
  deleteSegment: (id: Id) => Promise<boolean>;
  /** Optimistically apply a new order, send it in one call, roll back if the call fails. */
  reorderSegments: (ids: Id[], options?: { record?: boolean }) => Promise<boolean>;
  /** Move `activeId` to where `overId` is (drag and drop). */
  moveSegment: (activeId: Id, overId: Id) => Promise<boolean>;
  undo: () => Promise<void>;
  redo: () => Promise<void>;
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

/** The segment as the user sees it: the server's copy with the edits not confirmed yet. A change
 * of what decides the pixels needs a render: the state says so now, not after the save. */
function withPending(segment: Segment, pending: SegmentUpdate | null): Segment {
  if (!pending) return segment;
  const regenerate = GENERATIVE_FIELDS.some((k) => k in pending);
  return {
    ...segment,
    ...pending,
    ...(regenerate ? { state: "needs_render", state_progress: null, state_error: null, clip_url: null } : {}),
  } as Segment;
}

/** The detail with these segments, its counts following them. */
function withSegments(detail: ProjectDetail, segments: Segment[]): ProjectDetail {
  return { ...detail, segments, segment_count: segments.length, total_duration: totalDuration(segments) };
}

export const createTimelineSlice: SliceCreator<TimelineSlice> = (set, get, { api, draftStorage }) => {
  /** Bumped on every reorder, so only the latest one rolls back or applies the server's answer. */
  let reorderGeneration = 0;
  const bump = (ids: Id[]) => {
    if (ids.length === 0) return;
    const revisions = { ...get().segmentRevisions };
    for (const id of ids) revisions[id] = (revisions[id] ?? 0) + 1;
    set({ segmentRevisions: revisions });
  };

  const segmentsNow = (): Segment[] => cachedDetail(get().projectId)?.segments ?? [];
  /** Write the open project's segments into its cached detail (an optimistic edit or an answer). */
  const writeSegments = (projectId: Id, segments: Segment[]) =>
    queryClient.setQueryData<ProjectDetail>(projectKey(projectId), (detail) =>
      detail ? withSegments(detail, segments) : detail,
    );
  /** A fetch of the detail in flight would overwrite an optimistic change with the older list:
   * cancel it first (null when none is in flight, so the change shows without waiting). */
  const quiet = (projectId: Id): Promise<void> | null =>
    queryClient.isFetching({ queryKey: projectKey(projectId) }) > 0
      ? queryClient.cancelQueries({ queryKey: projectKey(projectId) })
      : null;

  const autosave = new AutosaveQueue({
    save: (id, patch, version) => api.updateSegment(id, patch, version),
    versionOf: (id) => segmentsNow().find((s) => s.id === id)?.version,
    onSaved: (saved) => {
      const detail = cachedDetail(saved.project_id);
      if (!detail) return;
      const before = detail.segments.find((s) => s.id === saved.id);
      const pending = autosave.pendingOf(saved.id);
      writeSegments(
        saved.project_id,
        detail.segments.map((s) => (s.id === saved.id ? withPending({ ...saved, position: s.position }, pending) : s)),
      );
      // A new spec changes what a render would take (count and estimate): the server recounts.
      if (before && before.spec_hash !== saved.spec_hash) {
        void queryClient.invalidateQueries({ queryKey: projectKey(saved.project_id) });
      }
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

  const readProject = async (id: Id): Promise<ProjectDetail> => {
    const detail = await api.getProject(id);
    // Edits left unsaved by a previous page (or still saving) are resumed and shown.
    autosave.restore(new Set(detail.segments.map((s) => s.id)));
    const known = new Map((cachedDetail(id)?.segments ?? []).map((s) => [s.id, s]));
    const changedElsewhere: Id[] = [];
    const segments = [...detail.segments]
      .sort((a, b) => a.position - b.position)
      .map((fetched) => {
        const cached = known.get(fetched.id);
        // An answer read before a save landed must not bring back the older version (the next
        // save would carry it and be refused as a conflict).
        const server = cached && cached.version > fetched.version ? { ...fetched, ...cached } : fetched;
        const pending = autosave.pendingOf(fetched.id);
        if (cached && cached.version < fetched.version && !pending) changedElsewhere.push(fetched.id);
        return withPending(server, pending);
      });
    bump(changedElsewhere);
    return withSegments({ ...detail }, segments);
  };

  return {
    projectId: null,
    selectedSegmentId: null,
    undoStack: [],
    redoStack: [],
    saveStates: {},
    segmentRevisions: {},

    readProject,

    editSegment: (id, patch, options = {}) => {
      const projectId = get().projectId;
      const before = segmentsNow().find((s) => s.id === id);
      if (!projectId || !before || Object.keys(patch).length === 0) return;
      // Optimistic: shown at once; a fetch answering meanwhile re-applies it (readProject).
      writeSegments(
        projectId,
        segmentsNow().map((s) => (s.id === id ? withPending(s, patch) : s)),
      );
      clearTimelineErrors(projectId);
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
          bump([id]);
          return true;
        },
        redo: async () => {
          get().editSegment(id, redoPatch, { record: false });
          bump([id]);
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
      bump([id]);
    },

    loadProject: async (id) => {
      const switching = get().projectId !== id;
      const keepSelection = switching ? null : get().selectedSegmentId;
      set({
        projectId: id,
        ...(switching ? { selectedSegmentId: null, undoStack: [], redoStack: [] } : {}),
      });
      let detail: ProjectDetail;
      try {
        detail = await queryClient.fetchQuery({
          queryKey: projectKey(id),
          queryFn: () => readProject(id),
          staleTime: 0,
        });
      } catch {
        return; // the query holds the error and the editor shows it
      }
      if (get().projectId !== id) return;
      const { segments } = detail;
      const selected =
        keepSelection && segments.some((s) => s.id === keepSelection) ? keepSelection : (segments[0]?.id ?? null);
      set({ selectedSegmentId: selected });
      // The inspector starts again from what was loaded.
      bump(segments.map((s) => s.id));
    },

    closeProject: () => {
      clearTimelineErrors(get().projectId);
      set({
        projectId: null,
        selectedSegmentId: null,
        undoStack: [],
        redoStack: [],
      });
    },

    updateProject: async (patch) => {
      const detail = cachedDetail(get().projectId);
      if (!detail) return;
      try {
        const updated = await api.updateProject(detail.id, patch, detail.version);
        queryClient.setQueryData<ProjectDetail>(projectKey(detail.id), (current) =>
          current
            ? { ...current, ...updated, segment_count: current.segment_count, total_duration: current.total_duration }
            : current,
        );
      } catch (err) {
        // Changed in another tab: show what is there now rather than overwrite it.
        if (err instanceof ApiError && err.status === 412) await get().loadProject(detail.id);
        throw err;
      }
    },

    selectSegment: (id) => set({ selectedSegmentId: id }),

    addSegment: async (init = {}) => {
      const projectId = get().projectId;
      if (!projectId) return null;
      const models = cachedModels();
      const model = models.find((m) => m.id === init.model) ?? defaultModel(models);
      const body: SegmentCreate = {
        prompt: init.prompt ?? `Shot ${segmentsNow().length + 1}`,
        model: init.model ?? model?.id ?? "procedural",
        duration: init.duration ?? defaultDuration(model),
        ...(init.params ? { params: init.params } : {}),
        ...(init.seed !== undefined ? { seed: init.seed } : {}),
        ...(init.negative_prompt !== undefined ? { negative_prompt: init.negative_prompt } : {}),
      };
      try {
        const segment = await runTimelineMutation(projectId, "Could not add a segment", () =>
          api.createSegment(projectId, body),
        );
        await quiet(projectId);
        writeSegments(
          projectId,
          withPositions(
            [...segmentsNow().filter((s) => s.id !== segment.id), segment].sort((a, b) => a.position - b.position),
          ),
        );
        set({ selectedSegmentId: segment.id });
        return segment;
      } catch {
        return null; // the mutation holds the reason and the editor shows it
      }
    },

    duplicateSegment: async (id) => {
      const projectId = get().projectId;
      if (!projectId) return null;
      try {
        const copy = await runTimelineMutation(projectId, "Could not duplicate the segment", () =>
          api.duplicateSegment(id),
        );
        await quiet(projectId);
        const segments = segmentsNow().slice();
        const index = segments.findIndex((s) => s.id === id);
        segments.splice(index < 0 ? segments.length : index + 1, 0, copy);
        writeSegments(projectId, withPositions(segments));
        set({ selectedSegmentId: copy.id });
        return copy;
      } catch {
        return null; // the mutation holds the reason
      }
    },

    deleteSegment: async (id) => {
      const projectId = get().projectId;
      if (!projectId) return false;
      const cancelling = quiet(projectId);
      if (cancelling) await cancelling;
      const before = segmentsNow();
      const index = before.findIndex((s) => s.id === id);
      if (index < 0) return false;
      const segments = withPositions(before.filter((s) => s.id !== id));
      const selected =
        get().selectedSegmentId === id
          ? (segments[Math.min(index, segments.length - 1)]?.id ?? null)
          : get().selectedSegmentId;
      writeSegments(projectId, segments);
      set({ selectedSegmentId: selected });
      try {
        await runTimelineMutation(projectId, "Could not delete", () => api.deleteSegment(id));
        autosave.forget(id);
        set({
          undoStack: get().undoStack.filter((e) => !e.segmentIds.includes(id)),
          redoStack: get().redoStack.filter((e) => !e.segmentIds.includes(id)),
        });
        return true;
      } catch {
        // Roll back: the segment is back where it was (the mutation holds the reason).
        writeSegments(projectId, before);
        set({ selectedSegmentId: id });
        return false;
      }
    },

    reorderSegments: async (ids, options = {}) => {
      const projectId = get().projectId;
      if (!projectId) return false;
      const cancelling = quiet(projectId);
      if (cancelling) await cancelling;
      const before = segmentsNow();
      const byId = new Map(before.map((s) => [s.id, s]));
      if (ids.length !== before.length || ids.some((id) => !byId.has(id))) {
        await runTimelineMutation(projectId, null, async () => {
          await get().loadProject(projectId);
          throw new Error("The timeline changed meanwhile; reloaded it.");
        }).catch(() => undefined);
        return false;
      }
      const previousIds = before.map((s) => s.id);
      if (ids.every((id, i) => id === previousIds[i])) return true;
      const generation = ++reorderGeneration;
      writeSegments(projectId, withPositions(ids.map((id) => byId.get(id) as Segment)));
      try {
        const detail = await runTimelineMutation(projectId, "Could not reorder", () =>
          api.reorderSegments(projectId, ids),
        );
        if (generation === reorderGeneration) {
          // The server's order, with the edits it does not have yet.
          const server = [...detail.segments]
            .sort((a, b) => a.position - b.position)
            .map((s) => withPending(s, autosave.pendingOf(s.id)));
          queryClient.setQueryData<ProjectDetail>(projectKey(projectId), (current) =>
            current ? withSegments({ ...current, ...projectOf(detail) }, server) : current,
          );
        }
        if (options.record !== false) {
          pushHistory(set, get, {
            label: "Reorder segments",
            segmentIds: [],
            undo: () =>
              get().reorderSegments(
                restorableOrder(
                  previousIds,
                  segmentsNow().map((s) => s.id),
                ),
                { record: false },
              ),
            redo: () =>
              get().reorderSegments(
                restorableOrder(
                  ids,
                  segmentsNow().map((s) => s.id),
                ),
                { record: false },
              ),
          });
        }
        return true;
      } catch {
        // The mutation holds the reason.
        if (generation === reorderGeneration) writeSegments(projectId, before);
        // A later reorder is in flight; its own answer decides. Refresh to be certain.
        else await get().loadProject(projectId);
        return false;
      }
    },

    moveSegment: async (activeId, overId) => {
      if (activeId === overId) return true;
      const ids = segmentsNow().map((s) => s.id);
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
  };
};
