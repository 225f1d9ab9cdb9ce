/** Typed builders for API objects and a fake API whose every method is a vi.fn. */
import { vi } from "vitest";
import type { Api } from "../api/endpoints";
import { queryClient } from "../api/queryClient";
import type { Asset, ModelInfo, Project, ProjectDetail, RenderJob, Segment } from "../api/types";
import { putJob } from "../features/dashboard/queries";
import { projectKey } from "../features/timeline/queries";
import { appStore, createAppStore, type Deps } from "../store";

const NOW = "2026-01-01T00:00:00Z";

export function makeProject(overrides: Partial<Project> = {}): Project {
  return {
    id: "p1",
    version: 1,
    name: "Demo",
    width: 1280,
    height: 720,
    fps: 24,
    aspect_mode: "fit",
    default_transition: null,
    soundtrack_asset_id: null,
    segment_count: 0,
    total_duration: 0,
    created_at: NOW,
    updated_at: NOW,
    ...overrides,
  };
}

export function makeSegment(overrides: Partial<Segment> = {}): Segment {
  const id = overrides.id ?? "s1";
  return {
    id,
    project_id: "p1",
    position: 0,
    prompt: `prompt ${id}`,
    negative_prompt: null,
    model: "procedural",
    params: {},
    duration: 1,
    seed: 42,
    caption: null,
    burn_caption: false,
    transition: null,
    init_image_asset_id: null,
    spec_hash: `hash-${id}`,
    version: 1,
    state: "needs_render",
    continue_from_previous: false,
    poster_url: null,
    clip_url: null,
    created_at: NOW,
    updated_at: NOW,
    ...overrides,
  };
}

export function makeDetail(segments: Segment[], overrides: Partial<Project> = {}): ProjectDetail {
  const ordered = segments.map((s, i) => ({ ...s, position: i }));
  return {
    ...makeProject({
      segment_count: ordered.length,
      total_duration: ordered.reduce((a, s) => a + s.duration, 0),
      ...overrides,
    }),
    segments: ordered,
    needs_render_count: ordered.filter((s) => s.state !== "ready" && s.state !== "generating").length,
    render_estimate: 0,
  };
}

/** Open this detail in the app's store as if it had been fetched (component tests). */
export function showProject(detail: ProjectDetail): ProjectDetail {
  queryClient.setQueryData(projectKey(detail.id), detail);
  appStore.setState({ projectId: detail.id });
  return detail;
}

/** Show this job in the app's dashboard as if it were watched: in the history's cache, its id in the store. */
export function showJob(job: RenderJob | null): void {
  if (job) putJob(job);
  appStore.setState({ activeJobId: job?.id ?? null });
}

export function makeJob(overrides: Partial<RenderJob> = {}): RenderJob {
  return {
    id: "j1",
    project_id: "p1",
    kind: "render",
    status: "queued",
    progress: 0,
    seq: 0,
    segments: [
      {
        segment_id: "s1",
        position: 0,
        status: "pending",
        progress: 0,
        reused: false,
        error: null,
        message: null,
        weight: 0.5,
      },
      {
        segment_id: "s2",
        position: 1,
        status: "pending",
        progress: 0,
        reused: false,
        error: null,
        message: null,
        weight: 0.5,
      },
    ],
    error: null,
    video_url: null,
    poster_url: null,
    captions_url: null,
    duration: null,
    estimated_cost: 0,
    actual_cost: 0,
    created_at: NOW,
    started_at: null,
    finished_at: null,
    ...overrides,
  };
}

export function makeModel(overrides: Partial<ModelInfo> = {}): ModelInfo {
  return {
    id: "procedural",
    label: "Procedural",
    adapter: "procedural",
    available: true,
    unavailable_reason: null,
    deprecated: null,
    text_to_video: true,
    image_to_video: false,
    min_duration: 0.5,
    max_duration: 30,
    durations: null,
    aspect_ratios: null,
    max_prompt_length: 2000,
    price_per_second: 0,
    params_schema: { type: "object", properties: {} },
    ...overrides,
  };
}

export type FakeApi = { [K in keyof Api]: ReturnType<typeof vi.fn> & Api[K] };

export function fakeApi(): FakeApi {
  const names: (keyof Api)[] = [
    "register",
    "login",
    "me",
    "listModels",
    "listProjects",
    "createProject",
    "getProject",
    "updateProject",
    "deleteProject",
    "createSegment",
    "updateSegment",
    "deleteSegment",
    "duplicateSegment",
    "reorderSegments",
    "planRender",
    "startRender",
    "getRenderJob",
    "cancelRenderJob",
    "listRenderJobs",
    "uploadAsset",
    "getAsset",
    "getContactSheet",
  ];
  const api: Partial<Record<keyof Api, unknown>> = {};
  for (const name of names) {
    api[name] = vi.fn(() => Promise.reject(new Error(`unexpected call: ${name}`)));
  }
  return api as FakeApi;
}

export function memoryStorage(initial: Record<string, string> = {}): NonNullable<Deps["storage"]> {
  const data = new Map(Object.entries(initial));
  return {
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => {
      data.set(k, v);
    },
    removeItem: (k) => {
      data.delete(k);
    },
  };
}

export function testStore(overrides: Partial<Deps> & { api: FakeApi }) {
  return createAppStore({ storage: memoryStorage(), ...overrides });
}

/** A promise with its resolve/reject exposed, to control when a fake call answers. */
export function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export function makeAsset(overrides: Partial<Asset> = {}): Asset {
  return {
    id: "a1",
    kind: "image",
    content_type: "image/png",
    bytes: 68,
    sha256: "0".repeat(64),
    duration: null,
    width: 1,
    height: 1,
    url: "/api/files/a1?expires=1&signature=x",
    ...overrides,
  };
}
