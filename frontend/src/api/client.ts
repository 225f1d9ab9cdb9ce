/**
 * Typed fetch wrapper for the Video Foundry API.
 *
 * Every URL is relative (`/api/...`): the API process serves this SPA, so they share an origin.
 * The bearer token comes from the store through `configureClient` (store/index.ts binds it), which
 * keeps this module free of React and of the store's import graph.
 */
import type { ErrorBody, ValidationErrorItem } from "./types";

export interface ClientConfig {
  getToken: () => string | null;
  /** Called on a 401 from an authenticated call (expired or revoked token). */
  onUnauthorized: () => void;
}

let config: ClientConfig = {
  getToken: () => null,
  onUnauthorized: () => undefined,
};

export function configureClient(next: Partial<ClientConfig>): void {
  config = { ...config, ...next };
}

export function getToken(): string | null {
  return config.getToken();
}

/** Tell the app its token was refused (it signs out). */
export function notifyUnauthorized(): void {
  config.onUnauthorized();
}

/**
 * An error answer from the API, or a network failure (status 0).
 *
 * `message` is readable as is; `fieldErrors` maps a field path ("prompt", "params.fps") to its
 * message when a 422 names the field in `loc`.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly fieldErrors: Record<string, string>;
  readonly body: unknown;

  constructor(status: number, message: string, fieldErrors: Record<string, string> = {}, body?: unknown) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.fieldErrors = fieldErrors;
    this.body = body;
  }
}

const LOC_ROOTS = new Set(["body", "query", "path", "header", "cookie"]);

/** ["body", "params", "fps"] -> "params.fps"; ["body"] -> null (the whole body). */
export function fieldFromLoc(loc: readonly (string | number)[]): string | null {
  const parts = loc.length > 0 && LOC_ROOTS.has(String(loc[0])) ? loc.slice(1) : loc;
  if (parts.length === 0) return null;
  return parts.map(String).join(".");
}

function isValidationItem(value: unknown): value is ValidationErrorItem {
  return (
    typeof value === "object" &&
    value !== null &&
    Array.isArray((value as { loc?: unknown }).loc) &&
    typeof (value as { msg?: unknown }).msg === "string"
  );
}

function statusText(status: number): string {
  switch (status) {
    case 400:
      return "Bad request";
    case 401:
      return "Not signed in, or the session expired";
    case 403:
      return "Not allowed";
    case 404:
      return "Not found";
    case 409:
      return "Conflict";
    case 412:
      return "Changed elsewhere meanwhile";
    case 413:
      return "Too large";
    case 422:
      return "Invalid input";
    case 429:
      return "Too many requests, try again shortly";
    default:
      return status >= 500 ? `Server error (${status})` : `Request failed (${status})`;
  }
}

/** Turn an error answer into an ApiError, whatever shape the body has. */
export function errorFromBody(status: number, body: unknown): ApiError {
  const detail = (body as Partial<ErrorBody> | null)?.detail;
  if (typeof detail === "string" && detail.trim() !== "") {
    return new ApiError(status, detail, {}, body);
  }
  if (Array.isArray(detail)) {
    const fieldErrors: Record<string, string> = {};
    const general: string[] = [];
    for (const item of detail) {
      if (!isValidationItem(item)) continue;
      const field = fieldFromLoc(item.loc);
      const msg = item.msg.replace(/^Value error, /, "");
      if (field === null) {
        general.push(msg);
      } else if (!(field in fieldErrors)) {
        fieldErrors[field] = msg;
      }
    }
    const described = Object.entries(fieldErrors).map(([field, msg]) => `${field}: ${msg}`);
    const message = [...general, ...described].join("; ") || statusText(status);
    return new ApiError(status, message, fieldErrors, body);
  }
  return new ApiError(status, statusText(status), {}, body);
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  query?: Query;
  /** JSON body. */
  json?: unknown;
  /** application/x-www-form-urlencoded body. */
  form?: Record<string, string>;
  /** multipart/form-data body (the browser sets the Content-Type with its boundary). */
  multipart?: FormData;
  /** Send no Authorization header (auth endpoints). */
  anonymous?: boolean;
  signal?: AbortSignal;
}

export function buildUrl(path: string, query?: Query): string {
  const url = path.startsWith("/api") ? path : `/api${path}`;
  if (!query) return url;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${url}?${qs}` : url;
}

async function send(
  method: string,
  path: string,
  options: RequestOptions,
  accept: string,
): Promise<{ response: Response; token: string | null }> {
  const headers: Record<string, string> = { Accept: accept };
  let body: BodyInit | undefined;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  } else if (options.form) {
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(options.form).toString();
  } else if (options.multipart) {
    body = options.multipart;
  }
  const token = options.anonymous ? null : config.getToken();
  if (token) headers.Authorization = `Bearer ${token}`;

  try {
    const response = await fetch(buildUrl(path, options.query), {
      method,
      headers,
      body,
      signal: options.signal,
    });
    return { response, token };
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw new ApiError(0, "Cannot reach the server. Check your connection and try again.");
  }
}

/** The body as JSON, as text when it is not JSON, null when empty. */
async function bodyOf(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function failure(response: Response, token: string | null): Promise<never> {
  const parsed = await bodyOf(response);
  if (response.status === 401 && token) config.onUnauthorized();
  throw errorFromBody(response.status, parsed);
}

/** A binary answer (an image the API serves behind the bearer token) as a Blob. */
export async function requestBlob(path: string, options: RequestOptions = {}): Promise<Blob> {
  const { response, token } = await send("GET", path, options, "*/*");
  if (!response.ok) return failure(response, token);
  return response.blob();
}

export async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const { response, token } = await send(method, path, options, "application/json");
  if (response.status === 204) return undefined as T;
  if (!response.ok) return failure(response, token);
  return (await bodyOf(response)) as T;
}

export const http = {
  get: <T>(path: string, options?: RequestOptions) => request<T>("GET", path, options),
  post: <T>(path: string, options?: RequestOptions) => request<T>("POST", path, options),
  put: <T>(path: string, options?: RequestOptions) => request<T>("PUT", path, options),
  delete: <T = void>(path: string, options?: RequestOptions) => request<T>("DELETE", path, options),
};

/** A readable message for anything thrown. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
