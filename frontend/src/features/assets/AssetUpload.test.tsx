import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError, configureClient } from "../../api/client";
import { makeAsset } from "../../test/factories";
import { WithQueries } from "../../test/queries";
import { AssetUpload, uploadErrorMessage } from "./AssetUpload";

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

const png = () => new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3])], "frame.png", { type: "image/png" });

describe("<AssetUpload>", () => {
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

  it("uploads the file as multipart with its kind and hands back the asset", async () => {
    const asset = makeAsset({ id: "img1" });
    fetchMock.mockResolvedValue(jsonResponse(201, asset));
    const onUploaded = vi.fn();
    render(<AssetUpload kind="image" label="Init image" onUploaded={onUploaded} />, { wrapper: WithQueries });
    const input = screen.getByLabelText("Init image");
    expect(input).toHaveAttribute("accept", "image/png,image/jpeg,image/webp");

    await userEvent.upload(input, png());
    await vi.waitFor(() => expect(onUploaded).toHaveBeenCalledWith(asset));

    const [url, init] = fetchMock.mock.calls[0] ?? [];
    expect(url).toBe("/api/assets");
    expect(init?.method).toBe("POST");
    expect(init?.headers).toMatchObject({ Authorization: "Bearer t0k" });
    // The browser must set the multipart boundary itself.
    expect(init?.headers).not.toHaveProperty("Content-Type");
    const body = init?.body as FormData;
    expect(body).toBeInstanceOf(FormData);
    expect(body.get("kind")).toBe("image");
    expect((body.get("file") as File).name).toBe("frame.png");
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
  });

  it("shows the 422's file message next to the picker", async () => {
    fetchMock.mockResolvedValue(
      jsonResponse(422, {
        detail: [
          {
            loc: ["body", "file"],
            msg: "file: not a readable image (use JPEG, PNG or WebP)",
            type: "value_error",
          },
        ],
      }),
    );
    const onUploaded = vi.fn();
    render(<AssetUpload kind="image" label="Init image" onUploaded={onUploaded} />, { wrapper: WithQueries });
    const input = screen.getByLabelText("Init image");
    await userEvent.upload(input, png());
    expect(await screen.findByRole("alert")).toHaveTextContent("not a readable image (use JPEG, PNG or WebP)");
    expect(input).toHaveAttribute("aria-invalid", "true");
    expect(onUploaded).not.toHaveBeenCalled();
    expect(input).not.toBeDisabled();
  });

  it("says 'Uploading…' while the request runs", async () => {
    let answer: (r: Response) => void = () => undefined;
    fetchMock.mockReturnValue(
      new Promise<Response>((resolve) => {
        answer = resolve;
      }),
    );
    render(<AssetUpload kind="audio" label="Soundtrack" onUploaded={vi.fn()} />, { wrapper: WithQueries });
    const input = screen.getByLabelText("Soundtrack");
    await userEvent.upload(input, new File(["ID3"], "song.mp3", { type: "audio/mpeg" }));
    expect(screen.getByRole("status")).toHaveTextContent("Uploading…");
    expect(input).toBeDisabled();
    answer(jsonResponse(201, makeAsset({ kind: "audio", duration: 3 })));
    await vi.waitFor(() => expect(screen.queryByRole("status")).not.toBeInTheDocument());
    expect((fetchMock.mock.calls[0]?.[1]?.body as FormData | undefined)?.get("kind")).toBe("audio");
  });

  it("refuses an empty file without calling the API", async () => {
    render(<AssetUpload kind="image" label="Init image" onUploaded={vi.fn()} />, { wrapper: WithQueries });
    await userEvent.upload(screen.getByLabelText("Init image"), new File([], "empty.png", { type: "image/png" }));
    expect(screen.getByRole("alert")).toHaveTextContent("The file is empty.");
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it("uploadErrorMessage falls back to the error's message", () => {
    expect(uploadErrorMessage(new ApiError(413, "Too large"))).toBe("The file is too large.");
    expect(uploadErrorMessage(new ApiError(0, "Cannot reach the server."))).toBe("Cannot reach the server.");
    expect(uploadErrorMessage(new ApiError(422, "x", { kind: "kind: Input should be 'image' or 'audio'" }))).toBe(
      "Input should be 'image' or 'audio'",
    );
  });
});
