/**
 * API types. HTTP bodies come from src/api/generated/schema.ts, which `npm run gen:api` generates
 * from the backend's OpenAPI document (so a backend change that breaks the UI fails typecheck).
 * The WebSocket progress events are not in OpenAPI and are written here from the contract.
 */
import type { components } from "./generated/schema";

type Schemas = components["schemas"];

export type Id = string;
export type IsoDateTime = string;

/** Fields the server defaults may be left out of a request. */
type WithOptional<T, Required extends keyof T> = Pick<T, Required> & Partial<Omit<T, Required>>;

export type User = Schemas["UserPublic"];
export type TokenResponse = Schemas["Token"];
export type ModelInfo = Omit<Schemas["ModelPublic"], "params_schema"> & { params_schema: JsonSchema };
export type Project = Schemas["ProjectPublic"];
/** A project as the list shows it: with a poster link for its card (null: nothing rendered). */
export type ProjectCard = Schemas["ProjectCard"];
export type ProjectDetail = Schemas["ProjectDetail"];
export type ProjectCreate = WithOptional<Schemas["ProjectCreate"], "name">;
export type ProjectUpdate = Partial<Schemas["ProjectUpdate"]>;
export type Segment = Schemas["SegmentPublic"];
export type SegmentParams = Segment["params"];
export type SegmentCreate = WithOptional<Schemas["SegmentCreate"], "prompt" | "duration">;
export type SegmentUpdate = Schemas["SegmentUpdate"];
export type RenderPlan = Schemas["RenderPlan"];
export type RenderPlanSegment = Schemas["PlannedSegment"];
export type PlanAction = RenderPlanSegment["action"];
export type RenderJob = Schemas["RenderJobPublic"];
export type RenderJobSegment = Schemas["SegmentStatus"];
export type JobStatus = RenderJob["status"];
export type SegmentRenderStatus = RenderJobSegment["status"];
export type ValidationErrorItem = Schemas["ValidationError"];
export type Asset = Schemas["AssetPublic"];
export type AssetKind = Schemas["Body_upload_api_assets_post"]["kind"];
export type Transition = Schemas["Transition"];
export type TransitionKind = Transition["kind"];

export const TRANSITION_KINDS: readonly TransitionKind[] = [
  "cut",
  "crossfade",
  "fade_black",
  "wipe_left",
  "wipe_right",
];

/**
 * Segments and projects answer their transition as a plain object (`{[key: string]: unknown}`);
 * this narrows it to a Transition, or null when it is absent or not one.
 */
export function asTransition(value: unknown): Transition | null {
  if (typeof value !== "object" || value === null) return null;
  const { kind, duration } = value as { kind?: unknown; duration?: unknown };
  if (typeof kind !== "string" || !(TRANSITION_KINDS as readonly string[]).includes(kind)) return null;
  return { kind: kind as TransitionKind, duration: typeof duration === "number" ? duration : 0.5 };
}

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

/** JSON schema as produced by Pydantic for a model's params. */
export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  definitions?: Record<string, JsonSchema>;
  [key: string]: unknown;
}

export const TERMINAL_JOB_STATUSES: readonly JobStatus[] = ["completed", "failed", "cancelled"];

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_JOB_STATUSES.includes(status);
}

export interface SnapshotEvent {
  type: "snapshot";
  seq: number;
  job: RenderJob;
}

/**
 * A segment's state changed. Progress "ticks" (`tick: true`) are not persisted: they repeat the
 * last seq and carry only status, progress, job_progress and message.
 */
export interface SegmentEvent {
  type: "segment";
  seq: number;
  tick?: boolean;
  job_id: Id;
  segment_id: Id;
  status: SegmentRenderStatus;
  progress: number;
  /** The job's own progress, as GET /api/render-jobs/{id} gives it (servers since issue 13). */
  job_progress?: number;
  reused?: boolean;
  error?: string | null;
  message?: string | null;
}

/** The job's state changed (ticks as for segments). */
export interface JobEvent {
  type: "job";
  seq: number;
  tick?: boolean;
  job_id: Id;
  status: JobStatus;
  progress: number;
  job_progress?: number;
  error?: string | null;
  video_url?: string | null;
  duration?: number | null;
}

export type ProgressEvent = SnapshotEvent | SegmentEvent | JobEvent;

/** FastAPI error bodies. */
export interface ErrorBody {
  detail: string | ValidationErrorItem[];
}
