import { fireEvent, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { configureClient } from "../../api/client";
import { ContactSheet } from "./ContactSheet";

describe("<ContactSheet>", () => {
  const fetchMock = vi.fn<typeof fetch>();
  const createObjectURL = vi.fn(() => "blob:sheet-1");
  const revokeObjectURL = vi.fn();

  beforeEach(() => {
    vi.stubGlobal("fetch", fetchMock);
    // jsdom has no object URLs
    vi.stubGlobal("URL", Object.assign(URL, { createObjectURL, revokeObjectURL }));
    configureClient({ getToken: () => "t0k" });
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    fetchMock.mockReset();
    createObjectURL.mockClear();
    revokeObjectURL.mockClear();
    configureClient({ getToken: () => null });
  });

  it("fetches the sheet with the bearer token on demand and shows it from an object URL", async () => {
    fetchMock.mockResolvedValue(new Response(new Uint8Array([0xff, 0xd8]), { status: 200 }));
    const { unmount } = render(<ContactSheet projectId="p1" />);
    expect(fetchMock).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole("button", { name: "Show contact sheet" }));
    expect(await screen.findByTestId("contact-sheet-image")).toHaveAttribute("src", "blob:sheet-1");
    const [url, init] = fetchMock.mock.calls[0] ?? [];
    expect(url).toBe("/api/projects/p1/contact-sheet");
    expect(init?.headers).toMatchObject({ Authorization: "Bearer t0k" });
    unmount();
    expect(revokeObjectURL).toHaveBeenCalledWith("blob:sheet-1");
  });

  it("says to render first on a 404", async () => {
    fetchMock.mockResolvedValue(
      new Response(JSON.stringify({ detail: "project p1 has no generated clips yet; render it first" }), {
        status: 404,
      }),
    );
    render(<ContactSheet projectId="p1" />);
    fireEvent.click(screen.getByRole("button", { name: "Show contact sheet" }));
    expect(await screen.findByTestId("contact-sheet-missing")).toHaveTextContent("render the project first");
    expect(screen.queryByRole("img")).not.toBeInTheDocument();
  });

  it("reports other failures and refetches on refresh", async () => {
    fetchMock.mockResolvedValueOnce(new Response("boom", { status: 500 }));
    render(<ContactSheet projectId="p1" />);
    fireEvent.click(screen.getByRole("button", { name: "Show contact sheet" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Server error (500)");
    fetchMock.mockResolvedValueOnce(new Response(new Uint8Array([1]), { status: 200 }));
    fireEvent.click(screen.getByRole("button", { name: "Refresh" }));
    expect(await screen.findByTestId("contact-sheet-image")).toBeInTheDocument();
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });
});
