import { renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { configureClient } from "../../api/client";
import { queryClient } from "../../api/queryClient";
import { makeAsset } from "../../test/factories";
import { WithQueries } from "../../test/queries";
import { rememberAsset, useAsset } from "./useAsset";

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

describe("useAsset", () => {
  const fetchMock = vi.fn<typeof fetch>();
  beforeEach(() => {
    vi.stubGlobal("fetch", fetchMock);
    configureClient({ getToken: () => "t0k" });
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    fetchMock.mockReset();
    configureClient({ getToken: () => null });
  });

  it("asks once for an asset two components show", async () => {
    fetchMock.mockImplementation(async () => jsonResponse(200, makeAsset({ id: "a1", url: "/f/a1" })));
    const first = renderHook(() => useAsset("a1"), { wrapper: WithQueries });
    expect(first.result.current).toEqual({ asset: null, loading: true, error: null });
    await vi.waitFor(() => expect(first.result.current.asset?.url).toBe("/f/a1"));
    const second = renderHook(() => useAsset("a1"), { wrapper: WithQueries });
    expect(second.result.current.asset?.url).toBe("/f/a1");
    expect(fetchMock).toHaveBeenCalledTimes(1);
  });

  it("shows an asset just uploaded without asking", () => {
    rememberAsset(queryClient, makeAsset({ id: "a2", url: "/f/a2" }));
    const { result } = renderHook(() => useAsset("a2"), { wrapper: WithQueries });
    expect(result.current.asset?.url).toBe("/f/a2");
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it("gives the reason an asset could not be read, and nothing for no id", async () => {
    fetchMock.mockImplementation(async () => jsonResponse(404, { detail: "asset a3 not found" }));
    const { result } = renderHook(() => useAsset("a3"), { wrapper: WithQueries });
    await vi.waitFor(() => expect(result.current.error).toBe("asset a3 not found"));
    expect(result.current).toMatchObject({ asset: null, loading: false });
    const none = renderHook(() => useAsset(null), { wrapper: WithQueries });
    expect(none.result.current).toEqual({ asset: null, loading: false, error: null });
    expect(fetchMock).toHaveBeenCalledTimes(1);
  });
});
