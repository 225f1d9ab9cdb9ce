import { describe, expect, it } from "vitest";
import { ApiError } from "../../api/client";
import { queryClient } from "../../api/queryClient";
import { deferred, fakeApi, makeDetail, makeModel, makeProject, makeSegment, testStore } from "../../test/factories";
import { MODELS_KEY } from "./models";
import { timelineError } from "./mutations";
import { cachedDetail, projectKey } from "./queries";
import { arrayMove, defaultDuration, defaultModel, totalDuration } from "./slice";

const A = makeSegment({ id: "a", duration: 1 });
const B = makeSegment({ id: "b", duration: 2 });
const C = makeSegment({ id: "c", duration: 3 });

async function loaded(segments = [A, B, C]) {
  const api = fakeApi();
  api.getProject.mockResolvedValue(makeDetail(segments));
  const store = testStore({ api });
  await store.getState().loadProject("p1");
  return { api, store };
}

/** The open project's segments as the cached detail holds them (what the editor shows). */
const segments = (store: Awaited<ReturnType<typeof loaded>>["store"]) =>
  cachedDetail(store.getState().projectId)?.segments ?? [];
const ids = (store: Awaited<ReturnType<typeof loaded>>["store"]) => segments(store).map((s) => s.id);

describe("timeline slice: loading", () => {
  it("loads segments ordered by position and selects the first", async () => {
    const api = fakeApi();
    api.getProject.mockResolvedValue({
      ...makeDetail([A, B]),
      segments: [
        { ...B, position: 1 },
        { ...A, position: 0 },
      ],
    });
    const store = testStore({ api });
    await store.getState().loadProject("p1");
    expect(ids(store)).toEqual(["a", "b"]);
    expect(store.getState().selectedSegmentId).toBe("a");
    expect(store.getState().projectId).toBe("p1");
    // Server state is the query's: the store keeps which project is open, not its detail.
    expect(store.getState()).not.toHaveProperty("segments");
    expect(cachedDetail("p1")?.name).toBe("Demo");
  });

  it("leaves a missing project's error in its query, not retried", async () => {
    const api = fakeApi();
    api.getProject.mockRejectedValue(new ApiError(404, "project p9 not found"));
    const store = testStore({ api });
    await store.getState().loadProject("p9");
    expect(queryClient.getQueryState(projectKey("p9"))?.error).toMatchObject({ status: 404 });
    expect(api.getProject).toHaveBeenCalledTimes(1);
    expect(store.getState().selectedSegmentId).toBeNull();
  });
});

describe("timeline slice: reorder", () => {
  it("applies the new order at once and sends one call with every id", async () => {
    const { api, store } = await loaded();
    const answer = deferred<ReturnType<typeof makeDetail>>();
    api.reorderSegments.mockReturnValue(answer.promise);

    const pending = store.getState().moveSegment("c", "a");
    // optimistic: visible before the server answers
    expect(ids(store)).toEqual(["c", "a", "b"]);
    expect(segments(store).map((s) => s.position)).toEqual([0, 1, 2]);
    expect(api.reorderSegments).toHaveBeenCalledTimes(1);
    expect(api.reorderSegments).toHaveBeenCalledWith("p1", ["c", "a", "b"]);

    answer.resolve(makeDetail([C, A, B]));
    await expect(pending).resolves.toBe(true);
    expect(ids(store)).toEqual(["c", "a", "b"]);
    expect(timelineError("p1")).toBeNull();
  });

  it("rolls back to the previous order when the call fails", async () => {
    const { api, store } = await loaded();
    const answer = deferred<never>();
    api.reorderSegments.mockReturnValue(answer.promise);

    const pending = store.getState().moveSegment("a", "c");
    expect(ids(store)).toEqual(["b", "c", "a"]);

    answer.reject(new ApiError(500, "Server error (500)"));
    await expect(pending).resolves.toBe(false);
    expect(ids(store)).toEqual(["a", "b", "c"]);
    expect(timelineError("p1")).toMatch(/Could not reorder: Server error/);
    expect(store.getState().undoStack).toHaveLength(0);
  });

  it("does not call the API when the order is unchanged", async () => {
    const { api, store } = await loaded();
    await expect(store.getState().moveSegment("b", "b")).resolves.toBe(true);
    await expect(store.getState().reorderSegments(["a", "b", "c"])).resolves.toBe(true);
    expect(api.reorderSegments).not.toHaveBeenCalled();
  });

  it("a failing older reorder does not undo a newer one; it reloads instead", async () => {
    const { api, store } = await loaded();
    const first = deferred<never>();
    const second = deferred<ReturnType<typeof makeDetail>>();
    api.reorderSegments.mockReturnValueOnce(first.promise).mockReturnValueOnce(second.promise);

    const p1 = store.getState().moveSegment("a", "b"); // b a c
    const p2 = store.getState().moveSegment("c", "b"); // c b a
    expect(ids(store)).toEqual(["c", "b", "a"]);

    api.getProject.mockResolvedValue(makeDetail([C, B, A]));
    second.resolve(makeDetail([C, B, A]));
    await p2;
    first.reject(new ApiError(409, "stale"));
    await p1;
    expect(ids(store)).toEqual(["c", "b", "a"]);
    expect(api.getProject).toHaveBeenCalledTimes(2); // initial load + refresh after the stale failure
  });

  it("reloads instead of sending an order that does not match the timeline", async () => {
    const { api, store } = await loaded();
    await expect(store.getState().reorderSegments(["a", "b"])).resolves.toBe(false);
    expect(api.reorderSegments).not.toHaveBeenCalled();
    expect(api.getProject).toHaveBeenCalledTimes(2);
    expect(timelineError("p1")).toBe("The timeline changed meanwhile; reloaded it.");
  });

  it("undo and redo a reorder", async () => {
    const { api, store } = await loaded();
    api.reorderSegments.mockImplementation(async (_p: string, order: string[]) =>
      makeDetail(order.map((id) => [A, B, C].find((s) => s.id === id) ?? A)),
    );
    await store.getState().moveSegment("a", "c");
    expect(ids(store)).toEqual(["b", "c", "a"]);
    await store.getState().undo();
    expect(ids(store)).toEqual(["a", "b", "c"]);
    expect(store.getState().redoStack).toHaveLength(1);
    await store.getState().redo();
    expect(ids(store)).toEqual(["b", "c", "a"]);
    expect(api.reorderSegments).toHaveBeenCalledTimes(3);
  });
});

describe("timeline slice: segment edits", () => {
  it("adds a segment with the default model and selects it", async () => {
    const { api, store } = await loaded([A]);
    queryClient.setQueryData(MODELS_KEY, [makeModel({ id: "runway", available: false }), makeModel()]);
    const created = makeSegment({ id: "n", position: 1, duration: 2 });
    api.createSegment.mockResolvedValue(created);
    await store.getState().addSegment();
    expect(api.createSegment).toHaveBeenCalledWith("p1", { prompt: "Shot 2", model: "procedural", duration: 2 });
    expect(ids(store)).toEqual(["a", "n"]);
    expect(store.getState().selectedSegmentId).toBe("n");
    expect(cachedDetail("p1")).toMatchObject({ total_duration: 3, segment_count: 2 });
  });

  it("a 422 keeps the edit on screen, with the server's message per field in its save state", async () => {
    const { api, store } = await loaded([A]);
    api.updateSegment.mockRejectedValue(
      new ApiError(422, "prompt: too long", { prompt: "too long", "params.fps": "must be ≤ 60" }),
    );
    store.getState().editSegment("a", { prompt: "x" });
    await expect(store.getState().flushEdits()).resolves.toBe(false);
    expect(store.getState().saveStates.a).toMatchObject({
      status: "error",
      fieldErrors: { prompt: "too long", "params.fps": "must be ≤ 60" },
    });
    expect(segments(store)[0]?.prompt).toBe("x");
    expect(timelineError("p1")).toBeNull();
  });

  it("undoes an edit by saving the previous values", async () => {
    const { api, store } = await loaded([A]);
    api.updateSegment.mockImplementation(async (id: string, patch: object, version: number) => ({
      ...A,
      id,
      ...patch,
      version: version + 1,
    }));
    store.getState().editSegment("a", { prompt: "new", seed: 7 });
    await store.getState().flushEdits();
    expect(segments(store)[0]).toMatchObject({ prompt: "new", seed: 7 });
    await store.getState().undo();
    expect(segments(store)[0]?.prompt).toBe(A.prompt);
    await store.getState().flushEdits();
    expect(api.updateSegment).toHaveBeenLastCalledWith("a", { prompt: A.prompt, seed: A.seed }, 2);
    expect(segments(store)[0]).toMatchObject({ prompt: A.prompt, seed: A.seed, version: 3 });
  });

  it("a failed add changes nothing and its mutation holds the reason, until the next action", async () => {
    const { api, store } = await loaded([A]);
    api.createSegment.mockRejectedValue(new ApiError(422, "duration: too long", { duration: "too long" }));
    await expect(store.getState().addSegment()).resolves.toBeNull();
    expect(ids(store)).toEqual(["a"]);
    expect(timelineError("p1")).toBe("Could not add a segment: duration: too long");
    api.duplicateSegment.mockResolvedValue(makeSegment({ id: "a2", position: 1 }));
    await store.getState().duplicateSegment("a");
    expect(timelineError("p1")).toBeNull();
  });

  it("a failed duplicate says why", async () => {
    const { api, store } = await loaded([A]);
    api.duplicateSegment.mockRejectedValue(new ApiError(0, "Cannot reach the server."));
    await expect(store.getState().duplicateSegment("a")).resolves.toBeNull();
    expect(ids(store)).toEqual(["a"]);
    expect(timelineError("p1")).toBe("Could not duplicate the segment: Cannot reach the server.");
  });

  it("inserts a duplicate right after its original", async () => {
    const { api, store } = await loaded([A, B]);
    api.duplicateSegment.mockResolvedValue(makeSegment({ id: "a2", position: 1 }));
    await store.getState().duplicateSegment("a");
    expect(ids(store)).toEqual(["a", "a2", "b"]);
    expect(store.getState().selectedSegmentId).toBe("a2");
  });

  it("deletes optimistically and restores on failure", async () => {
    const { api, store } = await loaded([A, B]);
    const answer = deferred<never>();
    api.deleteSegment.mockReturnValue(answer.promise);
    const pending = store.getState().deleteSegment("a");
    expect(ids(store)).toEqual(["b"]);
    expect(store.getState().selectedSegmentId).toBe("b");
    answer.reject(new ApiError(0, "Cannot reach the server."));
    await pending;
    expect(ids(store)).toEqual(["a", "b"]);
    expect(timelineError("p1")).toMatch(/Cannot reach the server/);
  });

  it("drops history entries of a deleted segment", async () => {
    const { api, store } = await loaded([A, B]);
    api.updateSegment.mockImplementation(async (id: string, patch: object) => ({ ...A, id, ...patch }));
    api.deleteSegment.mockResolvedValue(undefined);
    store.getState().editSegment("a", { prompt: "edited" });
    await store.getState().flushEdits();
    expect(store.getState().undoStack).toHaveLength(1);
    await store.getState().deleteSegment("a");
    expect(store.getState().undoStack).toHaveLength(0);
  });
});

describe("timeline slice: the project's query", () => {
  it("an edit shows at once in the cached detail, needing a render, and a fetch meanwhile keeps it", async () => {
    const { api, store } = await loaded([{ ...A, state: "ready", clip_url: "/a.mp4" }, B]);
    const save = deferred<typeof A>();
    api.updateSegment.mockReturnValue(save.promise);
    store.getState().editSegment("a", { prompt: "a new prompt" });
    expect(segments(store)[0]).toMatchObject({ prompt: "a new prompt", state: "needs_render", clip_url: null });

    // The server still has the old copy; a refetch answering before the save lands must not win.
    const flushed = store.getState().flushEdits();
    await store.getState().loadProject("p1");
    expect(segments(store)[0]).toMatchObject({ prompt: "a new prompt", state: "needs_render" });

    save.resolve({ ...A, prompt: "a new prompt", version: 2, spec_hash: "hash-a2" });
    await expect(flushed).resolves.toBe(true);
    expect(segments(store)[0]).toMatchObject({ prompt: "a new prompt", version: 2 });
    expect(api.updateSegment).toHaveBeenCalledWith("a", { prompt: "a new prompt" }, 1);
  });

  it("an answer read before a save landed does not bring the older version back", async () => {
    const { api, store } = await loaded([A]);
    api.updateSegment.mockResolvedValue({ ...A, prompt: "saved", version: 2 });
    store.getState().editSegment("a", { prompt: "saved" });
    await store.getState().flushEdits();
    api.getProject.mockResolvedValue(makeDetail([A])); // version 1, read before the save
    await store.getState().loadProject("p1");
    expect(segments(store)[0]).toMatchObject({ prompt: "saved", version: 2 });
    // So the next edit is based on version 2, not refused as a conflict.
    store.getState().editSegment("a", { seed: 9 });
    await store.getState().flushEdits();
    expect(api.updateSegment).toHaveBeenLastCalledWith("a", { seed: 9 }, 2);
  });

  it("a conflict keeps my edit on screen until I take theirs, which the inspector then shows", async () => {
    const { api, store } = await loaded([A]);
    const theirs = { ...A, prompt: "the other tab's", version: 3 };
    api.updateSegment.mockRejectedValue(new ApiError(412, "changed", {}, { current: theirs }));
    store.getState().editSegment("a", { prompt: "mine" });
    await expect(store.getState().flushEdits()).resolves.toBe(false);
    expect(store.getState().saveStates.a).toMatchObject({ status: "conflict", theirs });
    expect(segments(store)[0]?.prompt).toBe("mine");
    expect(store.getState().hasUnsavedEdits()).toBe(true);

    const revision = store.getState().segmentRevisions.a ?? 0;
    store.getState().takeTheirEdit("a");
    expect(segments(store)[0]).toMatchObject({ prompt: "the other tab's", version: 3 });
    expect(store.getState().saveStates.a).toBeUndefined();
    expect(store.getState().segmentRevisions.a).toBe(revision + 1);
    expect(store.getState().hasUnsavedEdits()).toBe(false);
  });

  it("another tab's edit fetched restarts the inspector from it, unless I have edits of my own", async () => {
    const { api, store } = await loaded([A, B]);
    const before = { ...store.getState().segmentRevisions };
    api.getProject.mockResolvedValue(
      makeDetail([
        { ...A, prompt: "elsewhere", version: 2 },
        { ...B, prompt: "elsewhere too", version: 2 },
      ]),
    );
    api.updateSegment.mockReturnValue(new Promise(() => undefined)); // my edit of b stays pending
    store.getState().editSegment("b", { prompt: "mine" });
    await queryClient.refetchQueries({ queryKey: projectKey("p1") });
    expect(segments(store).map((s) => s.prompt)).toEqual(["elsewhere", "mine"]);
    expect(store.getState().segmentRevisions.a).toBe((before.a ?? 0) + 1);
    expect(store.getState().segmentRevisions.b).toBe(before.b);
  });
});

describe("timeline slice: project settings", () => {
  it("renames the project and keeps the timeline's counts", async () => {
    const { api, store } = await loaded([A, B]);
    api.updateProject.mockResolvedValue(makeProject({ name: "Renamed", fps: 30 }));
    await expect(store.getState().updateProject({ name: "Renamed", fps: 30 })).resolves.toBeUndefined();
    expect(cachedDetail("p1")).toMatchObject({ name: "Renamed", fps: 30, segment_count: 2, total_duration: 3 });
    expect(ids(store)).toEqual(["a", "b"]);
  });

  it("rejects with a 422's field errors", async () => {
    const { api, store } = await loaded([A]);
    api.updateProject.mockRejectedValue(new ApiError(422, "width: must be even", { width: "must be even" }));
    await expect(store.getState().updateProject({ width: 1281 })).rejects.toMatchObject({
      fieldErrors: { width: "must be even" },
    });
    expect(cachedDetail("p1")?.name).toBe("Demo");
  });

  it("sends the version it edits and, on a 412, reloads instead of overwriting", async () => {
    const { api, store } = await loaded([A]);
    api.updateProject.mockRejectedValue(new ApiError(412, "changed", {}, { detail: "changed" }));
    api.getProject.mockClear();
    await expect(store.getState().updateProject({ name: "Mine" })).rejects.toMatchObject({ status: 412 });
    expect(api.updateProject).toHaveBeenCalledWith("p1", { name: "Mine" }, 1);
    expect(api.getProject).toHaveBeenCalledWith("p1");
  });
});

describe("timeline helpers", () => {
  it("arrayMove moves one item", () => {
    expect(arrayMove(["a", "b", "c", "d"], 0, 2)).toEqual(["b", "c", "a", "d"]);
    expect(arrayMove(["a", "b", "c", "d"], 3, 1)).toEqual(["a", "d", "b", "c"]);
  });

  it("totalDuration sums durations", () => {
    expect(totalDuration([A, B, C])).toBe(6);
    expect(totalDuration([])).toBe(0);
    // Trims count: the timeline lasts each segment's kept part.
    expect(totalDuration([{ ...A, trim_start: 0.5 }, { ...B, trim_end: 1 }, C])).toBe(
      6 - A.duration + (A.duration - 0.5) - B.duration + 1,
    );
  });

  it("picks procedural, else the first available model, and a duration it accepts", () => {
    const runway = makeModel({ id: "runway", durations: [5, 10], min_duration: 5, max_duration: 10 });
    expect(defaultModel([runway, makeModel()])?.id).toBe("procedural");
    expect(defaultModel([makeModel({ available: false }), runway])?.id).toBe("runway");
    expect(defaultDuration(runway)).toBe(5);
    expect(defaultDuration(makeModel({ min_duration: 4, max_duration: 8 }))).toBe(4);
    expect(defaultDuration(undefined)).toBe(2);
    expect(makeProject().fps).toBe(24);
  });
});
