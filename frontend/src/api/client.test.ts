import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError, buildUrl, configureClient, errorFromBody, fieldFromLoc, request, requestBlob } from "./client";
import { api } from "./endpoints";

function jsonResponse(status: number, body: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

describe("errorFromBody", () => {
  it("uses a string detail as the message", () => {
    const err = errorFromBody(409, { detail: "email already registered" });
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(409);
    expect(err.message).toBe("email already registered");
    expect(err.fieldErrors).toEqual({});
  });

  it("maps FastAPI 422 items to fields by loc", () => {
    const err = errorFromBody(422, {
      detail: [
        { loc: ["body", "prompt"], msg: "String should have at least 1 character", type: "string_too_short" },
        { loc: ["body", "params", "speed"], msg: "Value error, must be at most 4", type: "value_error" },
        { loc: ["body"], msg: "Field required", type: "missing" },
      ],
    });
    expect(err.fieldErrors).toEqual({
      prompt: "String should have at least 1 character",
      "params.speed": "must be at most 4",
    });
    expect(err.message).toBe(
      "Field required; prompt: String should have at least 1 character; params.speed: must be at most 4",
    );
  });

  it("falls back to a readable status text", () => {
    expect(errorFromBody(500, "<html>oops</html>").message).toBe("Server error (500)");
    expect(errorFromBody(404, null).message).toBe("Not found");
    expect(errorFromBody(422, { detail: [] }).message).toBe("Invalid input");
  });

  it("fieldFromLoc strips the location root", () => {
    expect(fieldFromLoc(["query", "limit"])).toBe("limit");
    expect(fieldFromLoc(["body", "segment_ids", 2])).toBe("segment_ids.2");
    expect(fieldFromLoc(["body"])).toBeNull();
  });
});

describe("request", () => {
  const fetchMock = vi.fn<typeof fetch>();
  const onUnauthorized = vi.fn();

  beforeEach(() => {
    vi.stubGlobal("fetch", fetchMock);
    configureClient({ getToken: () => "t0k", onUnauthorized });
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    fetchMock.mockReset();
    onUnauthorized.mockReset();
    configureClient({ getToken: () => null, onUnauthorized: () => undefined });
  });

  it("sends the bearer token and JSON, and parses the answer", async () => {
    fetchMock.mockResolvedValue(jsonResponse(201, { id: "p1" }));
    await expect(request("POST", "/projects", { json: { name: "x" } })).resolves.toEqual({ id: "p1" });
    const [url, init] = fetchMock.mock.calls[0] ?? [];
    expect(url).toBe("/api/projects");
    expect(init?.headers).toMatchObject({ Authorization: "Bearer t0k", "Content-Type": "application/json" });
    expect(init?.body).toBe('{"name":"x"}');
  });

  it("logs in with a form body and no token", async () => {
    fetchMock.mockResolvedValue(jsonResponse(200, { access_token: "abc", token_type: "bearer" }));
    await api.login("a@b.c", "p&ss word");
    const [url, init] = fetchMock.mock.calls[0] ?? [];
    expect(url).toBe("/api/auth/token");
    expect(init?.headers).not.toHaveProperty("Authorization");
    expect(init?.headers).toMatchObject({ "Content-Type": "application/x-www-form-urlencoded" });
    expect(init?.body).toBe("username=a%40b.c&password=p%26ss+word");
  });

  it("builds query strings and handles 204", async () => {
    fetchMock.mockResolvedValue(new Response(null, { status: 204 }));
    await expect(api.deleteProject("p/1")).resolves.toBeUndefined();
    const sent = fetchMock.mock.calls[0]?.[0] as Request;
    expect(new URL(sent.url).pathname).toBe("/api/projects/p%2F1");
    expect(sent.headers.get("Authorization")).toBe("Bearer t0k");
    expect(buildUrl("/projects/p1/render", { dry_run: true, skip: undefined })).toBe(
      "/api/projects/p1/render?dry_run=true",
    );
  });

  it("throws ApiError with the detail and signals a 401", async () => {
    fetchMock.mockResolvedValue(jsonResponse(401, { detail: "Could not validate credentials" }));
    await expect(api.me()).rejects.toMatchObject({ status: 401, message: "Could not validate credentials" });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it("sends the version a segment edit is based on as If-Match", async () => {
    fetchMock.mockResolvedValue(jsonResponse(200, { id: "s1", version: 4 }));
    await api.updateSegment("s1", { prompt: "x" }, 3);
    const sent = fetchMock.mock.calls[0]?.[0] as Request;
    expect(sent.method).toBe("PUT");
    expect(sent.headers.get("If-Match")).toBe('"3"');
    expect(await sent.json()).toEqual({ prompt: "x" });
  });

  it("gives a 412 its body, so the current segment can be shown", async () => {
    fetchMock.mockResolvedValue(jsonResponse(412, { detail: "changed elsewhere", current: { id: "s1", version: 5 } }));
    await expect(api.updateSegment("s1", { prompt: "x" }, 3)).rejects.toMatchObject({
      status: 412,
      message: "changed elsewhere",
      body: { current: { id: "s1", version: 5 } },
    });
  });

  it("turns a network failure into a readable ApiError", async () => {
    fetchMock.mockRejectedValue(new TypeError("Failed to fetch"));
    await expect(api.listModels()).rejects.toMatchObject({ status: 0, message: expect.stringMatching(/reach/) });
  });

  it("sends multipart bodies without a Content-Type so the browser adds the boundary", async () => {
    fetchMock.mockResolvedValue(jsonResponse(201, { id: "a1" }));
    await api.uploadAsset("audio", new Blob(["x"]), "song.ogg");
    const [url, init] = fetchMock.mock.calls[0] ?? [];
    expect(url).toBe("/api/assets");
    expect(init?.headers).toEqual({ Accept: "application/json", Authorization: "Bearer t0k" });
    expect((init?.body as FormData | undefined)?.get("kind")).toBe("audio");
  });

  it("fetches binaries as blobs with the token, and errors as ApiError", async () => {
    fetchMock.mockResolvedValueOnce(new Response(new Uint8Array([1, 2, 3]), { status: 200 }));
    const blob = await requestBlob("/projects/p1/contact-sheet");
    expect(blob.size).toBe(3);
    expect(fetchMock.mock.calls[0]?.[1]?.headers).toMatchObject({ Authorization: "Bearer t0k" });
    fetchMock.mockResolvedValueOnce(jsonResponse(404, { detail: "render it first" }));
    await expect(api.getContactSheet("p1")).rejects.toMatchObject({ status: 404, message: "render it first" });
  });
});
