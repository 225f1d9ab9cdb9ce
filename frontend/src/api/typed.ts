/**
 * The typed client: openapi-fetch over the types openapi-typescript generates from the server's
 * OpenAPI document (src/api/generated/schema.ts, `npm run gen:api`). Paths, parameters, bodies
 * and answers are checked against that document at compile time. Errors become `ApiError`s
 * exactly like the hand-written `request` of client.ts.
 */
import createClient, { type Middleware } from "openapi-fetch";
import { ApiError, errorFromBody, getToken, notifyUnauthorized } from "./client";
import type { paths } from "./generated/schema";

const auth: Middleware = {
  onRequest({ request }) {
    const token = getToken();
    if (token && !request.headers.has("Authorization")) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
};

function origin(): string {
  // openapi-fetch builds a Request, which needs an absolute URL outside a browser page.
  return typeof window !== "undefined" && window.location?.origin ? window.location.origin : "http://localhost";
}

export function createTypedClient(fetchImpl?: typeof fetch) {
  const client = createClient<paths>({
    baseUrl: origin(),
    // Looked up at each call, not once here, so a test's stubbed fetch is used.
    fetch: (input: Request) => (fetchImpl ?? globalThis.fetch)(input),
  });
  client.use(auth);
  return client;
}

export const typed = createTypedClient();

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The answer's data, or an ApiError (a 401 with a token also signs out). */
export async function unwrap<T>(call: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await call;
  } catch (err) {
    if (err instanceof DOMException && err.name === "AbortError") throw err;
    throw new ApiError(0, "Cannot reach the server. Check your connection and try again.");
  }
  const { data, error, response } = answer;
  if (!response.ok) {
    if (response.status === 401 && getToken()) notifyUnauthorized();
    throw errorFromBody(response.status, error ?? null);
  }
  return data as T;
}

/** `"3"` for version 3, the ETag the server gives a segment or project. */
export function etagOf(version: number): string {
  return `"${version}"`;
}
