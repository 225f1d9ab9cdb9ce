import { describe, expect, it, vi } from "vitest";
import { ApiError } from "../../api/client";
import type { ProgressClient, ProgressHandlers, ProgressOptions } from "../../api/progress";
import { queryClient } from "../../api/queryClient";
import type { RenderJobSegment, Segment } from "../../api/types";
import { fakeApi, makeDetail, makeJob, makeSegment, memoryStorage, testStore } from "../../test/factories";
import { TOKEN_KEY } from "../auth/slice";
import { TAKES_KEY } from "../takes/api";
import { cachedDetail, projectKey } from "../timeline/queries";
import { cachedJob, cachedJobs } from "./queries";

function withFakeProgress() {
  const watched: { options: ProgressOptions; handlers: ProgressHandlers; stop: ReturnType<typeof vi.fn> }[] = [];
  const progress = (options: ProgressOptions, handlers: ProgressHandlers) => {
    const stop = vi.fn();
    watched.push({ options, handlers, stop });
    return { start: vi.fn(), stop } as unknown as ProgressClient;
  };
  return { watched, progress };
}

/** The job the dashboard shows: its id in the store, the job in the history's cache. */
function shown(store: ReturnType<typeof testStore>) {
  const { projectId, activeJobId } = store.getState();
  return projectId && activeJobId ? cachedJob(projectId, activeJobId) : null;
}

async function editorStore() {
  const api = fakeApi();
  const { watched, progress } = withFakeProgress();
  api.getProject.mockResolvedValue(makeDetail([makeSegment({ id: "s1" }), makeSegment({ id: "s2" })]));
  const store = testStore({ api, progress, storage: memoryStorage({ [TOKEN_KEY]: "tok" }) });
  await store.getState().loadProject("p1");
  return { api, store, watched };
}

describe("dashboard slice", () => {
  it("asks for a dry-run plan before rendering", async () => {
    const { api, store } = await editorStore();
    const plan = {
      segments: [
        { segment_id: "s1", position: 0, model: "procedural", action: "reuse" as const, estimated_cost: 0 },
        { segment_id: "s2", position: 1, model: "procedural", action: "generate" as const, estimated_cost: 0.5 },
      ],
      total_estimated_cost: 0.5,
      compose: true,
    };
    api.planRender.mockResolvedValue(plan);
    await expect(store.getState().planRender()).resolves.toEqual(plan);
    expect(api.planRender).toHaveBeenCalledWith("p1");
  });

  it("starts a render, watches it with the token, and follows its progress", async () => {
    const { api, store, watched } = await editorStore();
    api.startRender.mockResolvedValue(makeJob());
    await store.getState().startRender();
    expect(shown(store)?.id).toBe("j1");
    expect(cachedJobs("p1").map((j) => j.id)).toEqual(["j1"]);
    expect(watched).toHaveLength(1);
    expect(watched[0]?.options).toMatchObject({ jobId: "j1", token: "tok" });

    watched[0]?.handlers.onJob(makeJob({ status: "generating", progress: 0.5 }));
    expect(shown(store)).toMatchObject({ status: "generating", progress: 0.5 });
    expect(cachedJobs("p1")[0]?.progress).toBe(0.5);

    // terminal: the timeline and history are refreshed (posters, spec state)
    // The list's finished copy replaces the live one: the socket's events carry no captions_url.
    api.listRenderJobs.mockResolvedValue({
      items: [makeJob({ status: "completed", progress: 1, video_url: "/v.mp4", captions_url: "/c.vtt" })],
      total: 1,
      limit: 10,
      offset: 0,
    });
    watched[0]?.handlers.onJob(makeJob({ status: "completed", progress: 1, video_url: "/v.mp4" }));
    expect(shown(store)?.captions_url).toBeNull();
    const takes = [...TAKES_KEY, "s1", 1];
    queryClient.setQueryData(takes, []);
    watched[0]?.handlers.onEnd?.("terminal");
    await vi.waitFor(() => expect(api.listRenderJobs).toHaveBeenCalledWith("p1", 10, 0));
    // The timeline's detail and the takes are no longer trusted: whoever shows them fetches again.
    expect(queryClient.getQueryState(projectKey("p1"))?.isInvalidated).toBe(true);
    expect(queryClient.getQueryState(takes)?.isInvalidated).toBe(true);
    await vi.waitFor(() => expect(shown(store)?.captions_url).toBe("/c.vtt"));
    expect(shown(store)?.video_url).toBe("/v.mp4");
    expect(cachedJobs("p1")[0]?.captions_url).toBe("/c.vtt");
  });

  it("a render's events move the cached segments' states; a finished clip fetches the detail again", async () => {
    const { api, store, watched } = await editorStore();
    api.startRender.mockResolvedValue(makeJob({ status: "queued" }));
    await store.getState().startRender();
    const [s1, s2] = cachedDetail("p1")?.segments ?? [];
    // Rows as the job's snapshot took them: s1 at its current spec, s2 edited since (its prompt differs).
    const row = (seg: Segment | undefined, patch: Partial<RenderJobSegment>): RenderJobSegment => ({
      segment_id: seg?.id ?? "",
      position: seg?.position ?? 0,
      prompt: seg?.prompt ?? null,
      model: seg?.model ?? null,
      seed: seg?.seed ?? null,
      duration: seg?.duration ?? null,
      params: seg?.params ?? null,
      status: "pending",
      progress: 0,
      reused: false,
      error: null,
      message: null,
      weight: 0.5,
      ...patch,
    });
    const job = (one: Partial<RenderJobSegment>, two: Partial<RenderJobSegment>) =>
      makeJob({ status: "generating", segments: [row(s1, one), row(s2, { prompt: "older prompt", ...two })] });
    watched[0]?.handlers.onJob(job({ status: "running", progress: 0.4 }, { status: "running", progress: 0.5 }));
    expect(cachedDetail("p1")?.segments.map((s) => [s.state, s.state_progress ?? null])).toEqual([
      ["generating", 0.4],
      ["needs_render", null],
    ]);
    expect(queryClient.getQueryState(projectKey("p1"))?.isInvalidated).toBe(false);

    const takesOf = (id: string) => [...TAKES_KEY, id, 1];
    queryClient.setQueryData(takesOf("s1"), []);
    queryClient.setQueryData(takesOf("s2"), []);
    watched[0]?.handlers.onJob(job({ status: "completed", progress: 1 }, { status: "running", progress: 0.9 }));
    expect(cachedDetail("p1")?.segments[0]?.state).toBe("ready");
    expect(cachedDetail("p1")?.segments[1]?.state).toBe("needs_render");
    // Its clip link and poster come with the detail, fetched again, and the new clip is a take.
    expect(queryClient.getQueryState(projectKey("p1"))?.isInvalidated).toBe(true);
    expect(queryClient.getQueryState(takesOf("s1"))?.isInvalidated).toBe(true);
    expect(queryClient.getQueryState(takesOf("s2"))?.isInvalidated).toBe(false);
  });

  it("keeps the live copy while the list is a step behind", async () => {
    const { api, store, watched } = await editorStore();
    api.startRender.mockResolvedValue(makeJob({ status: "generating", progress: 0.6 }));
    await store.getState().startRender();
    watched[0]?.handlers.onJob(makeJob({ status: "generating", progress: 0.6 }));
    api.listRenderJobs.mockResolvedValue({
      items: [makeJob({ status: "queued", progress: 0 })],
      total: 1,
      limit: 10,
      offset: 0,
    });
    await store.getState().loadJobs("p1");
    expect(shown(store)).toMatchObject({ status: "generating", progress: 0.6 });
    expect(cachedJobs("p1")[0]).toMatchObject({ status: "generating", progress: 0.6 });
  });

  it("shows a budget error readably and keeps no job", async () => {
    const { api, store } = await editorStore();
    api.startRender.mockRejectedValue(new ApiError(402, "render would cost $3.00, $1.00 left"));
    await expect(store.getState().startRender()).rejects.toThrow(
      "Budget exceeded: render would cost $3.00, $1.00 left",
    );
    expect(shown(store)).toBeNull();
  });

  it("cancels the active job", async () => {
    const { api, store } = await editorStore();
    api.startRender.mockResolvedValue(makeJob({ status: "generating" }));
    await store.getState().startRender();
    api.cancelRenderJob.mockResolvedValue(makeJob({ status: "cancelled" }));
    await store.getState().cancelRender();
    expect(api.cancelRenderJob).toHaveBeenCalledWith("j1");
    expect(shown(store)?.status).toBe("cancelled");
  });

  it("resumes watching the latest unfinished job when the history loads", async () => {
    const { api, store, watched } = await editorStore();
    api.listRenderJobs.mockResolvedValue({
      items: [makeJob({ id: "j2", status: "generating" }), makeJob({ id: "j1", status: "completed" })],
      total: 2,
      limit: 10,
      offset: 0,
    });
    await store.getState().loadJobs("p1");
    expect(shown(store)?.id).toBe("j2");
    expect(watched[0]?.options.jobId).toBe("j2");

    // picking a finished job from the history stops the live one
    store.getState().showJob(makeJob({ id: "j1", status: "completed" }));
    expect(watched[0]?.stop).toHaveBeenCalled();
    expect(shown(store)?.id).toBe("j1");
  });

  it("ignores a stale client's updates after switching jobs", async () => {
    const { store, watched } = await editorStore();
    store.getState().watchJob(makeJob({ id: "j1", status: "queued" }));
    store.getState().watchJob(makeJob({ id: "j2", status: "queued" }));
    watched[0]?.handlers.onJob(makeJob({ id: "j1", status: "generating" }));
    expect(shown(store)?.id).toBe("j2");
  });
});

describe("auth slice", () => {
  it("keeps the token in storage on login and clears it on logout", async () => {
    const api = fakeApi();
    const storage = memoryStorage();
    api.login.mockResolvedValue({ access_token: "abc", token_type: "bearer" });
    api.me.mockResolvedValue({ id: "u1", email: "a@b.c", budget_usd: null, spent_usd: 0, created_at: "" });
    const store = testStore({ api, storage });
    await store.getState().login("a@b.c", "pw");
    expect(storage.getItem(TOKEN_KEY)).toBe("abc");
    expect(store.getState().user?.email).toBe("a@b.c");
    store.getState().logout();
    expect(storage.getItem(TOKEN_KEY)).toBeNull();
    expect(store.getState().token).toBeNull();
  });

  it("says why the login page is on show after the session expired, until the next sign-in", async () => {
    const api = fakeApi();
    const store = testStore({ api, storage: memoryStorage({ [TOKEN_KEY]: "old" }) });
    store.getState().logout("Your session expired. Please sign in again.");
    expect(store.getState().authNotice).toBe("Your session expired. Please sign in again.");
    api.login.mockResolvedValue({ access_token: "abc", token_type: "bearer" });
    api.me.mockResolvedValue({ id: "u1", email: "a@b.c", budget_usd: null, spent_usd: 0, created_at: "" });
    await store.getState().login("a@b.c", "pw");
    expect(store.getState().authNotice).toBeNull();
  });

  it("rejects a refused sign-in with the server's error and keeps no token", async () => {
    const api = fakeApi();
    const storage = memoryStorage();
    const store = testStore({ api, storage });
    api.register.mockRejectedValue(new ApiError(409, "email already registered"));
    await expect(store.getState().register("a@b.c", "password1")).rejects.toMatchObject({ status: 409 });
    expect(api.login).not.toHaveBeenCalled();
    api.login.mockRejectedValue(new ApiError(401, "Incorrect email or password"));
    await expect(store.getState().login("a@b.c", "nope")).rejects.toMatchObject({ status: 401 });
    expect(store.getState().token).toBeNull();
    expect(storage.getItem(TOKEN_KEY)).toBeNull();
  });
});
