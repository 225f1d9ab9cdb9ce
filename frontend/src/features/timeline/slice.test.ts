import { describe, expect, it } from "vitest";
import { ApiError } from "../../api/client";
import { queryClient } from "../../api/queryClient";
import { deferred, fakeApi, makeDetail, makeModel, makeProject, makeSegment, testStore } from "../../test/factories";
import { MODELS_KEY } from "./models";
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

const ids = (store: Awaited<ReturnType<typeof loaded>>["store"]) => store.getState().segments.map((s) => s.id);

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
    expect(store.getState().project?.id).toBe("p1");
    expect(store.getState().project).not.toHaveProperty("segments");
  });

  it("reports a missing project readably", async () => {
    const api = fakeApi();
    api.getProject.mockRejectedValue(new ApiError(404, "project p9 not found"));
    const store = testStore({ api });
    await store.getState().loadProject("p9");
    expect(store.getState().timelineError).toBe("This project does not exist.");
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
    expect(store.getState().segments.map((s) => s.position)).toEqual([0, 1, 2]);
    expect(api.reorderSegments).toHaveBeenCalledTimes(1);
    expect(api.reorderSegments).toHaveBeenCalledWith("p1", ["c", "a", "b"]);

    answer.resolve(makeDetail([C, A, B]));
    await expect(pending).resolves.toBe(true);
    expect(ids(store)).toEqual(["c", "a", "b"]);
    expect(store.getState().timelineError).toBeNull();
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
    expect(store.getState().timelineError).toMatch(/Could not reorder: Server error/);
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
    expect(store.getState().project?.total_duration).toBe(3);
  });

  it("keeps server field errors from a 422 by field", async () => {
    const { api, store } = await loaded([A]);
    api.updateSegment.mockRejectedValue(
      new ApiError(422, "prompt: too long", { prompt: "too long", "params.fps": "must be ≤ 60" }),
    );
    await expect(store.getState().updateSegment("a", { prompt: "x" })).resolves.toBe(false);
    expect(store.getState().segmentFieldErrors).toEqual({ prompt: "too long", "params.fps": "must be ≤ 60" });
    expect(store.getState().timelineError).toBeNull();
    store.getState().selectSegment("a");
    expect(store.getState().segmentFieldErrors).toEqual({});
  });

  it("undoes an edit by sending the previous values", async () => {
    const { api, store } = await loaded([A]);
    api.updateSegment.mockImplementation(async (id: string, patch: object) => ({ ...A, id, ...patch }));
    await store.getState().updateSegment("a", { prompt: "new", seed: 7 });
    expect(store.getState().segments[0]?.prompt).toBe("new");
    await store.getState().undo();
    expect(api.updateSegment).toHaveBeenLastCalledWith("a", { prompt: A.prompt, seed: A.seed });
    expect(store.getState().segments[0]?.prompt).toBe(A.prompt);
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
    expect(store.getState().timelineError).toMatch(/Cannot reach the server/);
  });

  it("drops history entries of a deleted segment", async () => {
    const { api, store } = await loaded([A, B]);
    api.updateSegment.mockImplementation(async (id: string, patch: object) => ({ ...A, id, ...patch }));
    api.deleteSegment.mockResolvedValue(undefined);
    await store.getState().updateSegment("a", { prompt: "edited" });
    expect(store.getState().undoStack).toHaveLength(1);
    await store.getState().deleteSegment("a");
    expect(store.getState().undoStack).toHaveLength(0);
  });
});

describe("timeline slice: project settings", () => {
  it("renames the project and keeps the timeline's counts", async () => {
    const { api, store } = await loaded([A, B]);
    api.updateProject.mockResolvedValue(makeProject({ name: "Renamed", fps: 30 }));
    await expect(store.getState().updateProject({ name: "Renamed", fps: 30 })).resolves.toEqual({});
    expect(store.getState().project).toMatchObject({ name: "Renamed", fps: 30, segment_count: 2, total_duration: 3 });
  });

  it("returns field errors from a 422", async () => {
    const { api, store } = await loaded([A]);
    api.updateProject.mockRejectedValue(new ApiError(422, "width: must be even", { width: "must be even" }));
    await expect(store.getState().updateProject({ width: 1281 })).resolves.toEqual({ width: "must be even" });
    expect(store.getState().project?.name).toBe("Demo");
  });

  it("sends the version it edits and, on a 412, reloads instead of overwriting", async () => {
    const { api, store } = await loaded([A]);
    api.updateProject.mockRejectedValue(new ApiError(412, "changed", {}, { detail: "changed" }));
    api.getProject.mockClear();
    const errors = await store.getState().updateProject({ name: "Mine" });
    expect(api.updateProject).toHaveBeenCalledWith("p1", { name: "Mine" }, 1);
    expect(errors._).toMatch(/changed elsewhere/);
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
