import { fireEvent, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../../api/client";
import type { Project } from "../../api/types";
import { deferred, makeAsset, makeProject } from "../../test/factories";
import { WithQueries } from "../../test/queries";
import { ProjectSettings } from "./ProjectSettings";

const fetchMock = vi.fn<typeof fetch>();

function setup(project: Project = makeProject()) {
  const onSave = vi.fn(async () => ({}));
  const onClose = vi.fn();
  render(<ProjectSettings project={project} onSave={onSave} onClose={onClose} />, { wrapper: WithQueries });
  return { onSave, onClose };
}

afterEach(() => {
  vi.unstubAllGlobals();
  fetchMock.mockReset();
});

describe("<ProjectSettings>", () => {
  it("sends only the base fields when the transition and soundtrack are unchanged", async () => {
    const { onSave, onClose } = setup();
    expect(screen.getByLabelText("Default transition")).toHaveValue("");
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await vi.waitFor(() => expect(onSave).toHaveBeenCalledWith({ name: "Demo", width: 1280, height: 720, fps: 24 }));
    expect(onClose).toHaveBeenCalled();
  });

  it("sets a default transition", async () => {
    const { onSave } = setup();
    fireEvent.change(screen.getByLabelText("Default transition"), { target: { value: "fade_black" } });
    fireEvent.change(screen.getByLabelText("Transition length (s)"), { target: { value: "1" } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await vi.waitFor(() =>
      expect(onSave).toHaveBeenCalledWith(
        expect.objectContaining({ default_transition: { kind: "fade_black", duration: 1 } }),
      ),
    );
  });

  it("clears the default transition with null and refuses a bad length", async () => {
    const { onSave } = setup(makeProject({ default_transition: { kind: "crossfade", duration: 0.5 } }));
    fireEvent.change(screen.getByLabelText("Transition length (s)"), { target: { value: "9" } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    expect(screen.getAllByText("Between 0 and 5 s").length).toBeGreaterThan(0);
    expect(onSave).not.toHaveBeenCalled();
    fireEvent.change(screen.getByLabelText("Default transition"), { target: { value: "" } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await vi.waitFor(() => expect(onSave).toHaveBeenCalledWith(expect.objectContaining({ default_transition: null })));
  });

  it("uploads a soundtrack, shows its length and saves its id", async () => {
    vi.stubGlobal("fetch", fetchMock);
    fetchMock.mockResolvedValue(
      new Response(JSON.stringify(makeAsset({ id: "snd1", kind: "audio", duration: 12.5 })), { status: 201 }),
    );
    const { onSave } = setup();
    expect(screen.getByTestId("soundtrack")).toHaveTextContent("None");
    await userEvent.upload(
      screen.getByLabelText("Upload soundtrack"),
      new File(["ID3"], "song.mp3", { type: "audio/mpeg" }),
    );
    expect(await screen.findByText("♪ Audio, 12.5 s")).toBeInTheDocument();
    expect((fetchMock.mock.calls[0]?.[1]?.body as FormData | undefined)?.get("kind")).toBe("audio");
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await vi.waitFor(() =>
      expect(onSave).toHaveBeenCalledWith(expect.objectContaining({ soundtrack_asset_id: "snd1" })),
    );
  });

  it("shows the current soundtrack's length and removes it with null", async () => {
    vi.stubGlobal("fetch", fetchMock);
    fetchMock.mockResolvedValue(
      new Response(JSON.stringify(makeAsset({ id: "snd2", kind: "audio", duration: 75 })), { status: 200 }),
    );
    const { onSave } = setup(makeProject({ soundtrack_asset_id: "snd2" }));
    expect(await screen.findByText("♪ Audio, 1:15")).toBeInTheDocument();
    fireEvent.click(screen.getByRole("button", { name: "Remove soundtrack" }));
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await vi.waitFor(() => expect(onSave).toHaveBeenCalledWith(expect.objectContaining({ soundtrack_asset_id: null })));
  });

  it("shows the server's soundtrack error", async () => {
    const onSave = vi.fn(async () => {
      throw new ApiError(422, "soundtrack_asset_id: asset x is not audio", {
        soundtrack_asset_id: "asset x is not audio",
      });
    });
    const onClose = vi.fn();
    render(<ProjectSettings project={makeProject()} onSave={onSave} onClose={onClose} />, { wrapper: WithQueries });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByText("asset x is not audio")).toBeInTheDocument();
    expect(onClose).not.toHaveBeenCalled();
  });

  it("disables Save while the save is on its way, then shows a 422 beside its field", async () => {
    const answer = deferred<never>();
    const onSave = vi.fn(() => answer.promise);
    render(<ProjectSettings project={makeProject()} onSave={onSave} onClose={vi.fn()} />, { wrapper: WithQueries });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await vi.waitFor(() => expect(screen.getByRole("button", { name: "Save" })).toBeDisabled());
    expect(screen.getByRole("button", { name: "Cancel" })).toBeDisabled();
    answer.reject(new ApiError(422, "fps: must be 24 or 30", { fps: "must be 24 or 30" }));
    expect(await screen.findByText("must be 24 or 30")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Save" })).toBeEnabled();
  });

  it("says a setting changed elsewhere was reloaded, and anything else as the server says", async () => {
    const onSave = vi
      .fn<() => Promise<unknown>>()
      .mockRejectedValueOnce(new ApiError(412, "changed"))
      .mockRejectedValueOnce(new ApiError(500, "Server error (500)"));
    render(<ProjectSettings project={makeProject()} onSave={onSave} onClose={vi.fn()} />, { wrapper: WithQueries });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByText(/changed elsewhere meanwhile; they are reloaded/)).toBeInTheDocument();
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByText("Server error (500)")).toBeInTheDocument();
  });
});
