/** One typed function per API operation (the contract in one place). */
import { http, requestBlob } from "./client";
import type {
  Asset,
  AssetKind,
  Id,
  ModelInfo,
  Page,
  Project,
  ProjectCreate,
  ProjectDetail,
  ProjectUpdate,
  RenderJob,
  RenderPlan,
  Segment,
  SegmentCreate,
  SegmentUpdate,
  TokenResponse,
  User,
} from "./types";

const enc = encodeURIComponent;

export const api = {
  register: (email: string, password: string) =>
    http.post<User>("/auth/register", { json: { email, password }, anonymous: true }),
  login: (email: string, password: string) =>
    http.post<TokenResponse>("/auth/token", { form: { username: email, password }, anonymous: true }),
  me: () => http.get<User>("/me"),

  listModels: () => http.get<ModelInfo[]>("/models"),

  listProjects: (limit: number, offset: number) => http.get<Page<Project>>("/projects", { query: { limit, offset } }),
  createProject: (body: ProjectCreate) => http.post<Project>("/projects", { json: body }),
  getProject: (id: Id) => http.get<ProjectDetail>(`/projects/${enc(id)}`),
  updateProject: (id: Id, body: ProjectUpdate) => http.put<Project>(`/projects/${enc(id)}`, { json: body }),
  deleteProject: (id: Id) => http.delete(`/projects/${enc(id)}`),

  createSegment: (projectId: Id, body: SegmentCreate) =>
    http.post<Segment>(`/projects/${enc(projectId)}/segments`, { json: body }),
  updateSegment: (id: Id, body: SegmentUpdate) => http.put<Segment>(`/segments/${enc(id)}`, { json: body }),
  deleteSegment: (id: Id) => http.delete(`/segments/${enc(id)}`),
  duplicateSegment: (id: Id) => http.post<Segment>(`/segments/${enc(id)}/duplicate`),
  reorderSegments: (projectId: Id, segmentIds: Id[]) =>
    http.put<ProjectDetail>(`/projects/${enc(projectId)}/segments/order`, { json: { segment_ids: segmentIds } }),

  planRender: (projectId: Id) =>
    http.post<RenderPlan>(`/projects/${enc(projectId)}/render`, { query: { dry_run: true } }),
  startRender: (projectId: Id) => http.post<RenderJob>(`/projects/${enc(projectId)}/render`),
  getRenderJob: (id: Id) => http.get<RenderJob>(`/render-jobs/${enc(id)}`),
  cancelRenderJob: (id: Id) => http.post<RenderJob>(`/render-jobs/${enc(id)}/cancel`),
  listRenderJobs: (projectId: Id, limit: number, offset: number) =>
    http.get<Page<RenderJob>>(`/projects/${enc(projectId)}/render-jobs`, { query: { limit, offset } }),

  uploadAsset: (kind: AssetKind, file: File | Blob, filename?: string) => {
    const body = new FormData();
    body.set("kind", kind);
    if (filename !== undefined) body.set("file", file, filename);
    else body.set("file", file);
    return http.post<Asset>("/assets", { multipart: body });
  },
  getAsset: (id: Id) => http.get<Asset>(`/assets/${enc(id)}`),
  /** The project's contact sheet (JPEG); 404 until some segment has been generated. */
  getContactSheet: (projectId: Id) => requestBlob(`/projects/${enc(projectId)}/contact-sheet`),
};

export type Api = typeof api;
