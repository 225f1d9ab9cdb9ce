import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../../api/client";
import type { Segment, SegmentUpdate } from "../../api/types";
import { makeSegment } from "../../test/factories";
import { AutosaveQueue, type SaveState } from "./autosave";

function memoryStorage() {
  const data = new Map<string, string>();
  return {
    getItem: (k: string) => data.get(k) ?? null,
    setItem: (k: string, v: string) => void data.set(k, v),
    removeItem: (k: string) => void data.delete(k),
    data,
  };
}

interface Call {
  id: string;
  patch: SegmentUpdate;
  version: number;
  resolve: (s: Segment) => void;
  reject: (e: unknown) => void;
}

function setup(storage = memoryStorage()) {
  const calls: Call[] = [];
  const versions = new Map<string, number>([["s1", 1]]);
  const states: [string, SaveState][] = [];
  const saved: Segment[] = [];
  const queue = new AutosaveQueue({
    save: (id, patch, version) =>
      new Promise<Segment>((resolve, reject) => calls.push({ id, patch, version, resolve, reject })),
    versionOf: (id) => versions.get(id),
    onSaved: (s) => {
      versions.set(s.id, s.version);
      saved.push(s);
    },
    onState: (id, state) => states.push([id, state]),
    delayMs: 500,
    storage,
  });
  const answer = (i: number, patch: Partial<Segment>) => {
    const call = calls[i];
    if (!call) throw new Error(`no call ${i}`);
    call.resolve({ ...makeSegment({ id: call.id, version: call.version + 1, ...patch }), ...call.patch } as Segment);
  };
  return { queue, calls, versions, states, saved, answer, storage };
}

const settle = () => vi.advanceTimersByTimeAsync(0);

describe("AutosaveQueue", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("waits for a pause in typing, then sends every edit in one request based on the known version", async () => {
    const t = setup();
    t.queue.edit("s1", { prompt: "a" });
    await vi.advanceTimersByTimeAsync(300);
    t.queue.edit("s1", { prompt: "ab" });
    t.queue.edit("s1", { duration: 3 });
    await vi.advanceTimersByTimeAsync(300);
    expect(t.calls).toHaveLength(0); // the second edit restarted the countdown
    expect(t.queue.stateOf("s1").status).toBe("saving");
    expect(t.queue.hasUnsaved()).toBe(true);
    await vi.advanceTimersByTimeAsync(300);
    expect(t.calls).toHaveLength(1);
    expect(t.calls[0]).toMatchObject({ id: "s1", patch: { prompt: "ab", duration: 3 }, version: 1 });
    t.answer(0, {});
    await settle();
    expect(t.queue.stateOf("s1").status).toBe("saved");
    expect(t.queue.hasUnsaved()).toBe(false);
    expect(t.saved[0]?.version).toBe(2);
  });

  it("keeps one request in flight per segment; edits made meanwhile follow on the new version", async () => {
    const t = setup();
    t.queue.edit("s1", { prompt: "first" });
    await vi.advanceTimersByTimeAsync(500);
    t.queue.edit("s1", { prompt: "second" });
    await vi.advanceTimersByTimeAsync(500);
    expect(t.calls).toHaveLength(1);
    expect(t.queue.pendingOf("s1")).toEqual({ prompt: "second" });
    t.answer(0, {});
    await settle();
    expect(t.calls).toHaveLength(2);
    expect(t.calls[1]).toMatchObject({ patch: { prompt: "second" }, version: 2 });
    t.answer(1, {});
    await settle();
    expect(t.queue.stateOf("s1").status).toBe("saved");
  });

  it("on 412 keeps the edit, shows their copy, and sends mine on their version when asked", async () => {
    const t = setup();
    t.queue.edit("s1", { prompt: "mine" });
    await vi.advanceTimersByTimeAsync(500);
    const theirs = makeSegment({ id: "s1", prompt: "theirs", version: 5 });
    t.calls[0]?.reject(new ApiError(412, "changed", {}, { detail: "changed", current: theirs }));
    await settle();
    const state = t.queue.stateOf("s1");
    expect(state.status).toBe("conflict");
    expect(state.theirs?.prompt).toBe("theirs");
    expect(t.queue.pendingOf("s1")).toEqual({ prompt: "mine" });
    expect(t.queue.hasUnsaved()).toBe(true);

    // More typing does not overwrite them behind the user's back.
    t.queue.edit("s1", { prompt: "mine!" });
    await vi.advanceTimersByTimeAsync(2000);
    expect(t.calls).toHaveLength(1);

    void t.queue.keepMine("s1");
    await settle();
    expect(t.calls[1]).toMatchObject({ patch: { prompt: "mine!" }, version: 5 });
    t.answer(1, {});
    await settle();
    expect(t.queue.stateOf("s1").status).toBe("saved");
  });

  it("can drop my edit for theirs", async () => {
    const t = setup();
    t.queue.edit("s1", { prompt: "mine" });
    await vi.advanceTimersByTimeAsync(500);
    const theirs = makeSegment({ id: "s1", prompt: "theirs", version: 5 });
    t.calls[0]?.reject(new ApiError(412, "changed", {}, { detail: "changed", current: theirs }));
    await settle();
    t.queue.takeTheirs("s1");
    expect(t.saved.at(-1)?.prompt).toBe("theirs");
    expect(t.queue.stateOf("s1").status).toBe("saved");
    expect(t.queue.hasUnsaved()).toBe(false);
  });

  it("reports a failed save with the field messages and sends it again on retry", async () => {
    const t = setup();
    t.queue.edit("s1", { duration: 999 });
    await vi.advanceTimersByTimeAsync(500);
    t.calls[0]?.reject(new ApiError(422, "duration: too long", { duration: "too long" }));
    await settle();
    expect(t.queue.stateOf("s1")).toMatchObject({ status: "error", fieldErrors: { duration: "too long" } });
    expect(t.queue.hasUnsaved()).toBe(true);
    void t.queue.retry("s1");
    await settle();
    expect(t.calls[1]?.patch).toEqual({ duration: 999 });
  });

  it("flush sends everything now and says whether all of it landed", async () => {
    const t = setup();
    t.versions.set("s2", 1);
    t.queue.edit("s1", { prompt: "x" });
    t.queue.edit("s2", { prompt: "y" });
    const done = t.queue.flush();
    await settle();
    expect(t.calls.map((c) => c.id).sort()).toEqual(["s1", "s2"]);
    t.answer(0, {});
    t.answer(1, {});
    expect(await done).toBe(true);

    t.queue.edit("s1", { prompt: "z" });
    const failed = t.queue.flush();
    await settle();
    t.calls[2]?.reject(new ApiError(0, "Cannot reach the server."));
    expect(await failed).toBe(false);
  });

  it("keeps unsaved edits, in flight ones included, in storage so a reload resumes them", async () => {
    const storage = memoryStorage();
    const first = setup(storage);
    first.queue.edit("s1", { prompt: "typed before reload" });
    await vi.advanceTimersByTimeAsync(500); // in flight when the page goes away
    expect(JSON.parse(storage.data.get("vf.autosave") ?? "{}")).toEqual({
      s1: { patch: { prompt: "typed before reload" }, base: 1 },
    });

    const second = setup(storage);
    expect(second.queue.restore(new Set(["s1"]))).toEqual(["s1"]);
    expect(second.queue.pendingOf("s1")).toEqual({ prompt: "typed before reload" });
    await vi.advanceTimersByTimeAsync(500);
    expect(second.calls[0]).toMatchObject({ patch: { prompt: "typed before reload" }, version: 1 });
    second.answer(0, {});
    await settle();
    expect(storage.data.has("vf.autosave")).toBe(false);
  });
});
