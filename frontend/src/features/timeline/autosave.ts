/**
 * Autosave of segment edits: every edit is applied at once on screen (optimistic) and saved after
 * a short pause (debounced), one request in flight per segment, each carrying the version it is
 * based on (If-Match). Edits made while a save is in flight go out in the next one.
 *
 * Per segment the queue knows one of: `saving` (pending or in flight), `saved`, `error` (the
 * request failed; `retry()` sends it again) or `conflict` (412: someone else changed the segment;
 * the server's copy is kept until the user picks theirs or keeps their own). Pending edits are
 * mirrored to storage so a reload resumes them instead of losing them.
 *
 * No React and no store here: the owner passes callbacks, so the logic is tested on its own.
 */
import { ApiError, errorMessage } from "../../api/client";
import type { Id, Segment, SegmentUpdate } from "../../api/types";

export type SaveStatus = "saved" | "saving" | "error" | "conflict";

export interface SaveState {
  status: SaveStatus;
  /** What could not be saved: a readable message, and per-field messages from a 422. */
  error?: string;
  fieldErrors?: Record<string, string>;
  /** 412: the segment as it is on the server now. */
  theirs?: Segment;
}

export interface AutosaveOptions {
  /** Send an update based on `version`; resolves with the saved segment. */
  save: (id: Id, patch: SegmentUpdate, version: number) => Promise<Segment>;
  /** The last version of the segment the client knows (from the server). */
  versionOf: (id: Id) => number | undefined;
  /** A save succeeded: the server's segment (edits still pending are re-applied by the owner). */
  onSaved: (segment: Segment) => void;
  /** The save state of a segment changed. */
  onState: (id: Id, state: SaveState) => void;
  delayMs?: number;
  /** Where pending edits survive a reload (localStorage); null keeps them in memory only. */
  storage?: Pick<Storage, "getItem" | "setItem" | "removeItem"> | null;
  storageKey?: string;
}

interface Entry {
  /** Edits not sent yet. */
  pending: SegmentUpdate;
  /** The request in flight, if any, and what it carries (kept for a reload until it lands). */
  inflight: Promise<void> | null;
  sending: SegmentUpdate;
  /** The version the pending edits are based on. */
  base: number | undefined;
  timer: ReturnType<typeof setTimeout> | null;
  state: SaveState;
}

interface Stored {
  patch: SegmentUpdate;
  base?: number;
}

export class AutosaveQueue {
  private readonly entries = new Map<Id, Entry>();
  private readonly options: Required<Omit<AutosaveOptions, "storage">> & {
    storage: AutosaveOptions["storage"];
  };

  constructor(options: AutosaveOptions) {
    this.options = { delayMs: 800, storageKey: "vf.autosave", ...options, storage: options.storage ?? null };
  }

  /** Queue an edit of `id`; merged with its other unsent edits and saved after a pause. */
  edit(id: Id, patch: SegmentUpdate): void {
    const entry = this.entry(id);
    entry.pending = { ...entry.pending, ...patch };
    if (entry.base === undefined) entry.base = this.options.versionOf(id);
    // A conflict waits for the user's choice; anything else starts (or restarts) the countdown.
    if (entry.state.status !== "conflict") {
      this.setState(id, entry, { status: "saving" });
      this.schedule(id, entry);
    }
    this.persist();
  }

  /** Edits of a segment not confirmed by the server yet, to draw it as the user left it. */
  pendingOf(id: Id): SegmentUpdate | null {
    const entry = this.entries.get(id);
    if (!entry) return null;
    const patch = { ...entry.sending, ...entry.pending };
    return Object.keys(patch).length > 0 ? patch : null;
  }

  stateOf(id: Id): SaveState {
    return this.entries.get(id)?.state ?? { status: "saved" };
  }

  /** True while any edit is not on the server yet (pending, in flight, failed or in conflict). */
  hasUnsaved(): boolean {
    for (const entry of this.entries.values()) {
      if (Object.keys(entry.pending).length > 0 || entry.inflight) return true;
    }
    return false;
  }

  /** Save everything now and wait; true when nothing is left unsaved. */
  async flush(): Promise<boolean> {
    for (let round = 0; round < 5; round++) {
      const work: Promise<void>[] = [];
      for (const [id, entry] of this.entries) {
        if (entry.inflight) work.push(entry.inflight);
        else if (Object.keys(entry.pending).length > 0 && entry.state.status !== "conflict") {
          work.push(this.send(id, entry));
        }
      }
      if (work.length === 0) break;
      await Promise.all(work);
      if ([...this.entries.values()].some((e) => e.state.status === "error" || e.state.status === "conflict")) break;
    }
    return !this.hasUnsaved();
  }

  /** Send a failed save again. */
  retry(id: Id): Promise<void> {
    const entry = this.entries.get(id);
    if (!entry || entry.inflight || Object.keys(entry.pending).length === 0) return Promise.resolve();
    return this.send(id, entry);
  }

  /** Conflict: keep my edits, on top of their version. */
  keepMine(id: Id): Promise<void> {
    const entry = this.entries.get(id);
    if (entry?.state.status !== "conflict") return Promise.resolve();
    entry.base = entry.state.theirs?.version ?? this.options.versionOf(id);
    return this.send(id, entry);
  }

  /** Conflict: drop my edits and take the server's segment. */
  takeTheirs(id: Id): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    const theirs = entry.state.theirs;
    if (entry.timer) clearTimeout(entry.timer);
    this.entries.delete(id);
    this.persist();
    if (theirs) this.options.onSaved(theirs);
    this.options.onState(id, { status: "saved" });
  }

  /** Forget a segment (deleted) or everything (project closed). */
  forget(id?: Id): void {
    const ids = id === undefined ? [...this.entries.keys()] : [id];
    for (const key of ids) {
      const entry = this.entries.get(key);
      if (entry?.timer) clearTimeout(entry.timer);
      this.entries.delete(key);
    }
    this.persist();
  }

  /** Edits left by a previous page (reload), queued again; returns the segment ids. */
  restore(knownIds: ReadonlySet<Id>): Id[] {
    const raw = this.options.storage?.getItem(this.options.storageKey);
    if (!raw) return [];
    let stored: Record<Id, Stored>;
    try {
      stored = JSON.parse(raw) as Record<Id, Stored>;
    } catch {
      return [];
    }
    const restored: Id[] = [];
    for (const [id, item] of Object.entries(stored)) {
      // Segments this page is already saving are its own, not a previous page's.
      if (!knownIds.has(id) || this.entries.has(id) || !item || typeof item.patch !== "object") continue;
      const entry = this.entry(id);
      entry.pending = { ...item.patch, ...entry.pending };
      entry.base = item.base ?? this.options.versionOf(id);
      this.setState(id, entry, { status: "saving" });
      this.schedule(id, entry);
      restored.push(id);
    }
    return restored;
  }

  private entry(id: Id): Entry {
    let entry = this.entries.get(id);
    if (!entry) {
      entry = { pending: {}, inflight: null, sending: {}, base: undefined, timer: null, state: { status: "saved" } };
      this.entries.set(id, entry);
    }
    return entry;
  }

  private schedule(id: Id, entry: Entry): void {
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      entry.timer = null;
      if (!entry.inflight) void this.send(id, entry);
    }, this.options.delayMs);
  }

  private setState(id: Id, entry: Entry, state: SaveState): void {
    entry.state = state;
    this.options.onState(id, state);
  }

  private send(id: Id, entry: Entry): Promise<void> {
    if (entry.inflight) return entry.inflight;
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = null;
    const patch = entry.pending;
    if (Object.keys(patch).length === 0) return Promise.resolve();
    entry.pending = {};
    entry.sending = patch;
    const base = entry.base ?? this.options.versionOf(id) ?? 1;
    this.setState(id, entry, { status: "saving" });
    const run = (async () => {
      try {
        const saved = await this.options.save(id, patch, base);
        entry.base = saved.version;
        entry.inflight = null;
        entry.sending = {};
        this.options.onSaved(saved);
        if (Object.keys(entry.pending).length > 0) {
          this.persist();
          await this.send(id, entry); // typed while this one was in flight
          return;
        }
        if (this.entries.get(id) === entry) this.entries.delete(id);
        this.options.onState(id, { status: "saved" });
      } catch (err) {
        entry.inflight = null;
        entry.sending = {};
        entry.pending = { ...patch, ...entry.pending }; // nothing is lost
        if (err instanceof ApiError && err.status === 412) {
          const theirs = (err.body as { current?: Segment } | null)?.current;
          this.setState(id, entry, {
            status: "conflict",
            error: "Changed in another tab or by someone else since you started editing.",
            ...(theirs ? { theirs } : {}),
          });
        } else {
          this.setState(id, entry, {
            status: "error",
            error: errorMessage(err),
            ...(err instanceof ApiError ? { fieldErrors: err.fieldErrors } : {}),
          });
        }
      } finally {
        this.persist();
      }
    })();
    entry.inflight = run;
    return run;
  }

  private persist(): void {
    const storage = this.options.storage;
    if (!storage) return;
    const out: Record<Id, Stored> = {};
    for (const [id, entry] of this.entries) {
      const patch = { ...entry.sending, ...entry.pending };
      if (Object.keys(patch).length > 0) {
        out[id] = { patch, ...(entry.base !== undefined ? { base: entry.base } : {}) };
      }
    }
    try {
      if (Object.keys(out).length === 0) storage.removeItem(this.options.storageKey);
      else storage.setItem(this.options.storageKey, JSON.stringify(out));
    } catch {
      // storage full or disabled: edits still save, they just do not survive a reload
    }
  }
}
