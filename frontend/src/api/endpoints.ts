/**
 * One typed function per API operation (the contract in one place). JSON operations go through
 * the generated client (typed.ts), so a path or body the server does not have fails typecheck;
 * the form login, uploads and binary answers keep the small fetch wrapper of client.ts.
 */
import { http, requestBlob } from "./client";
import type { components } from "./generated/schema";
import { etagOf, typed, unwrap } from "./typed";
import type {
  Asset,
  AssetKind,
  Id,
  ModelInfo,
  Page,
  Project,
  ProjectCard,
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

type Schemas = components["schemas"];

const project = (project_id: Id) => ({ params: { path: { project_id } } });
const segment = (segment_id: Id) => ({ params: { path: { segment_id } } });
const job = (job_id: Id) => ({ params: { path: { job_id } } });

export const api = {
  register: (email: string, password: string) =>
    unwrap(typed.POST("/api/auth/register", { body: { email, password } })) as Promise<User>,
  login: (email: string, password: string) =>
    http.post<TokenResponse>("/auth/token", { form: { username: email, password }, anonymous: true }),
  me: () => unwrap(typed.GET("/api/me")) as Promise<User>,

  listModels: () => unwrap(typed.GET("/api/models")) as Promise<ModelInfo[]>,

  listProjects: (limit: number, offset: number) =>
    unwrap(typed.GET("/api/projects", { params: { query: { limit, offset } } })) as Promise<Page<ProjectCard>>,
  createProject: (body: ProjectCreate) =>
    unwrap(typed.POST("/api/projects", { body: body as Schemas["ProjectCreate"] })) as Promise<Project>,
  getProject: (id: Id) => unwrap(typed.GET("/api/projects/{project_id}", project(id))) as Promise<ProjectDetail>,
  /** With `version`, a project changed elsewhere since answers 412 (ApiError, body.current). */
  updateProject: (id: Id, body: ProjectUpdate, version?: number) =>
    unwrap(
      typed.PUT("/api/projects/{project_id}", {
        params: { path: { project_id: id }, header: version === undefined ? {} : { "if-match": etagOf(version) } },
        body,
      }),
    ) as Promise<Project>,
  deleteProject: (id: Id) => unwrap(typed.DELETE("/api/projects/{project_id}", project(id))) as Promise<void>,

  createSegment: (projectId: Id, body: SegmentCreate) =>
    unwrap(
      typed.POST("/api/projects/{project_id}/segments", {
        ...project(projectId),
        body: body as Schemas["SegmentCreate"],
      }),
    ) as Promise<Segment>,
  /** With `version`, a segment changed elsewhere since answers 412 (ApiError, body.current). */
  updateSegment: (id: Id, body: SegmentUpdate, version?: number) =>
    unwrap(
      typed.PUT("/api/segments/{segment_id}", {
        params: {
          path: { segment_id: id },
          header: version === undefined ? {} : { "if-match": etagOf(version) },
        },
        body,
      }),
    ) as Promise<Segment>,
  deleteSegment: (id: Id) => unwrap(typed.DELETE("/api/segments/{segment_id}", segment(id))) as Promise<void>,
  duplicateSegment: (id: Id) =>
    unwrap(typed.POST("/api/segments/{segment_id}/duplicate", segment(id))) as Promise<Segment>,
  reorderSegments: (projectId: Id, segmentIds: Id[]) =>
    unwrap(
      typed.PUT("/api/projects/{project_id}/segments/order", {
        ...project(projectId),
        body: { segment_ids: segmentIds },
      }),
    ) as Promise<ProjectDetail>,

  planRender: (projectId: Id) =>
    unwrap(
      typed.POST("/api/projects/{project_id}/render", {
        params: { path: { project_id: projectId }, query: { dry_run: true } },
      }),
    ) as Promise<RenderPlan>,
  startRender: (projectId: Id) =>
    unwrap(typed.POST("/api/projects/{project_id}/render", project(projectId))) as Promise<RenderJob>,
  getRenderJob: (id: Id) => unwrap(typed.GET("/api/render-jobs/{job_id}", job(id))) as Promise<RenderJob>,
  cancelRenderJob: (id: Id) => unwrap(typed.POST("/api/render-jobs/{job_id}/cancel", job(id))) as Promise<RenderJob>,
  listRenderJobs: (projectId: Id, limit: number, offset: number) =>
    unwrap(
      typed.GET("/api/projects/{project_id}/render-jobs", {
        params: { path: { project_id: projectId }, query: { limit, offset } },
      }),
    ) as Promise<Page<RenderJob>>,

  uploadAsset: (kind: AssetKind, file: File | Blob, filename?: string) => {
    const body = new FormData();
    body.set("kind", kind);
    if (filename !== undefined) body.set("file", file, filename);
    else body.set("file", file);
    return http.post<Asset>("/assets", { multipart: body });
  },
  getAsset: (id: Id) =>
    unwrap(typed.GET("/api/assets/{asset_id}", { params: { path: { asset_id: id } } })) as Promise<Asset>,
  /** The project's contact sheet (JPEG); 404 until some segment has been generated. */
  getContactSheet: (projectId: Id) => requestBlob(`/projects/${encodeURIComponent(projectId)}/contact-sheet`),
};

export type Api = typeof api;
