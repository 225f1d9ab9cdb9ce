import { fireEvent, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { makeAsset, makeModel, makeSegment } from "../../test/factories";
import { WithQueries } from "../../test/queries";
import { diffDraft, Inspector, type InspectorProps } from "./Inspector";

const models = [
  makeModel({
    params_schema: {
      type: "object",
      properties: { speed: { type: "number", minimum: 0.1, maximum: 4, title: "Speed" } },
    },
  }),
  makeModel({
    id: "runway",
    label: "Runway Gen-4",
    available: false,
    unavailable_reason: "RUNWAY_API_KEY is not set",
    durations: [5, 10],
    min_duration: 5,
    max_duration: 10,
  }),
];

function setup(props: Partial<InspectorProps> = {}) {
  // Autosave: every valid change reaches onEdit as it is made (the store debounces the saves).
  const onSave = vi.fn();
  const segment = props.segment ?? makeSegment({ id: "s1", prompt: "a red fox", duration: 2, seed: 42 });
  render(
    <Inspector
      segment={segment}
      models={models}
      onEdit={onSave}
      onDuplicate={vi.fn()}
      onDelete={vi.fn(async () => true)}
      {...props}
    />,
    { wrapper: WithQueries },
  );
  return { onSave, segment };
}

describe("<Inspector>", () => {
  it("disables unavailable models and gives the reason as a tooltip", () => {
    setup();
    const option = screen.getByRole("option", { name: /Runway Gen-4/ });
    expect(option).toBeDisabled();
    expect(option).toHaveAttribute("title", "RUNWAY_API_KEY is not set");
    expect(screen.getByRole("option", { name: /Procedural/ })).not.toBeDisabled();
  });

  it("sets a segment to continue from the previous shot", async () => {
    const image = makeModel({ id: "diffusers/svd", label: "SVD", text_to_video: false, image_to_video: true });
    const segment = makeSegment({ id: "s2", position: 1, model: "diffusers/svd", duration: 2 });
    const { onSave } = setup({ segment, models: [...models, image] });
    expect(screen.getByText(/SVD needs an image/)).toBeInTheDocument();
    fireEvent.click(screen.getByLabelText(/Continue from the previous shot/));
    expect(screen.queryByText(/SVD needs an image/)).not.toBeInTheDocument();
    await vi.waitFor(() => expect(onSave).toHaveBeenLastCalledWith({ continue_from_previous: true }));
  });

  it("cannot continue the first segment, and says why a text model cannot continue", () => {
    setup();
    expect(screen.getByLabelText(/Continue from the previous shot/)).toBeDisabled();
    expect(screen.getByText("The first segment has no previous shot to continue.")).toBeInTheDocument();
  });

  it("warns when a text-only model is set to continue", () => {
    setup({ segment: makeSegment({ id: "s2", position: 1, continue_from_previous: true }) });
    expect(screen.getByText(/Procedural cannot start from a frame/)).toBeInTheDocument();
  });

  it("saves only the changed fields", async () => {
    const { onSave } = setup();
    expect(onSave).not.toHaveBeenCalled();
    fireEvent.change(screen.getByLabelText("Prompt"), { target: { value: "a blue fox" } });
    fireEvent.change(screen.getByLabelText(/Speed/), { target: { value: "2" } });
    await vi.waitFor(() => expect(onSave).toHaveBeenLastCalledWith({ prompt: "a blue fox", params: { speed: 2 } }));
  });

  it("draws a new seed", async () => {
    const { onSave } = setup();
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    fireEvent.click(screen.getByRole("button", { name: "New seed" }));
    expect(screen.getByLabelText("Seed")).toHaveValue(1073741823);
    await vi.waitFor(() => expect(onSave).toHaveBeenLastCalledWith({ seed: 1073741823 }));
  });

  it("checks the duration and params before saving", () => {
    const { onSave } = setup();
    fireEvent.change(screen.getByLabelText("Duration (s)"), { target: { value: "99" } });
    fireEvent.change(screen.getByLabelText(/Speed/), { target: { value: "9" } });
    expect(screen.getByText("Between 0.5 and 30 s for Procedural")).toBeInTheDocument();
    expect(screen.getByText("Must be at most 4")).toBeInTheDocument();
    expect(onSave).not.toHaveBeenCalled();
  });

  it("shows server field errors next to the field the loc names", () => {
    setup({
      saveState: {
        status: "error",
        error: "Invalid input",
        fieldErrors: {
          prompt: "prompt rejected by moderation",
          "params.speed": "must be at most 4",
          transition: "unknown kind",
        },
      },
    });
    expect(screen.getByTestId("save-status")).toHaveTextContent("Not saved: Invalid input");
    expect(screen.getByLabelText("Prompt")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByText("prompt rejected by moderation")).toBeInTheDocument();
    expect(screen.getByText("must be at most 4")).toBeInTheDocument();
    expect(screen.getByText("unknown kind")).toBeInTheDocument();
    expect(screen.getByLabelText("Transition into next")).toHaveAttribute("aria-invalid", "true");
  });

  it("asks before deleting", async () => {
    const onDelete = vi.fn(async () => true);
    setup({ onDelete });
    fireEvent.click(screen.getByRole("button", { name: "Delete" }));
    expect(screen.getByRole("alertdialog")).toHaveTextContent("Delete segment?");
    expect(onDelete).not.toHaveBeenCalled();
    const dialog = screen.getByRole("alertdialog");
    fireEvent.click(dialog.querySelector("button.danger") as HTMLButtonElement);
    await vi.waitFor(() => expect(onDelete).toHaveBeenCalledTimes(1));
  });
});

describe("<Inspector> caption, transition and init image", () => {
  const fetchMock = vi.fn<typeof fetch>();
  afterEach(() => {
    vi.unstubAllGlobals();
    fetchMock.mockReset();
  });

  it("saves a caption and a crossfade into the next segment", async () => {
    const { onSave } = setup();
    expect(screen.getByLabelText("Transition into next")).toHaveValue("");
    fireEvent.change(screen.getByLabelText("Caption"), { target: { value: "Hello there" } });
    fireEvent.change(screen.getByLabelText("Transition into next"), { target: { value: "crossfade" } });
    fireEvent.change(screen.getByLabelText("Transition length (s)"), { target: { value: "0.8" } });
    await vi.waitFor(() =>
      expect(onSave).toHaveBeenLastCalledWith({
        caption: "Hello there",
        transition: { kind: "crossfade", duration: 0.8 },
      }),
    );
  });

  it("clears a caption and goes back to the project default with nulls", async () => {
    const { onSave } = setup({
      segment: makeSegment({ caption: "old", transition: { kind: "wipe_left", duration: 1 } }),
    });
    expect(screen.getByLabelText("Caption")).toHaveValue("old");
    expect(screen.getByLabelText("Transition into next")).toHaveValue("wipe_left");
    expect(screen.getByLabelText("Transition length (s)")).toHaveValue(1);
    fireEvent.change(screen.getByLabelText("Caption"), { target: { value: "  " } });
    fireEvent.change(screen.getByLabelText("Transition into next"), { target: { value: "" } });
    await vi.waitFor(() => expect(onSave).toHaveBeenLastCalledWith({ caption: null, transition: null }));
  });

  it("blocks a caption over 500 characters and a transition over 5 s", () => {
    const { onSave } = setup();
    fireEvent.change(screen.getByLabelText("Caption"), { target: { value: "x".repeat(501) } });
    fireEvent.change(screen.getByLabelText("Transition into next"), { target: { value: "fade_black" } });
    fireEvent.change(screen.getByLabelText("Transition length (s)"), { target: { value: "6" } });
    expect(screen.getByText("At most 500 characters")).toBeInTheDocument();
    expect(screen.getByText("Between 0 and 5 s")).toBeInTheDocument();
    expect(onSave).not.toHaveBeenCalled();
  });

  it("uploads an init image, previews it and saves its id", async () => {
    vi.stubGlobal("fetch", fetchMock);
    fetchMock.mockResolvedValue(
      new Response(JSON.stringify(makeAsset({ id: "img9", url: "/api/files/img9?sig" })), { status: 201 }),
    );
    const { onSave } = setup();
    await userEvent.upload(
      screen.getByLabelText(/Upload init image/),
      new File([new Uint8Array([1, 2, 3])], "f.png", { type: "image/png" }),
    );
    expect(await screen.findByTestId("init-image-preview")).toHaveAttribute("src", "/api/files/img9?sig");
    expect(screen.getByText("Procedural does not use an init image.")).toBeInTheDocument();
    await vi.waitFor(() => expect(onSave).toHaveBeenLastCalledWith({ init_image_asset_id: "img9" }));
  });

  it("loads the preview of a saved init image and removes it with null", async () => {
    vi.stubGlobal("fetch", fetchMock);
    fetchMock.mockResolvedValue(
      new Response(JSON.stringify(makeAsset({ id: "img1", url: "/f/img1" })), { status: 200 }),
    );
    const { onSave } = setup({ segment: makeSegment({ init_image_asset_id: "img1" }) });
    expect(await screen.findByTestId("init-image-preview")).toHaveAttribute("src", "/f/img1");
    const sent = fetchMock.mock.calls[0]?.[0] as Request | undefined;
    expect(sent && new URL(sent.url).pathname).toBe("/api/assets/img1");
    fireEvent.click(screen.getByRole("button", { name: "Remove image" }));
    expect(screen.queryByTestId("init-image-preview")).not.toBeInTheDocument();
    await vi.waitFor(() => expect(onSave).toHaveBeenLastCalledWith({ init_image_asset_id: null }));
  });

  it("shows the upload's 422 and keeps the draft unchanged", async () => {
    vi.stubGlobal("fetch", fetchMock);
    fetchMock.mockResolvedValue(
      new Response(
        JSON.stringify({ detail: [{ loc: ["body", "file"], msg: "file: GIF images are not accepted", type: "x" }] }),
        { status: 422 },
      ),
    );
    const { onSave } = setup();
    await userEvent.upload(
      screen.getByLabelText(/Upload init image/),
      new File([new Uint8Array([1])], "f.png", { type: "image/png" }),
    );
    expect(await screen.findByText("GIF images are not accepted")).toBeInTheDocument();
    expect(onSave).not.toHaveBeenCalled();
  });
});

describe("<Inspector> autosave states", () => {
  it("offers a retry when a save failed", () => {
    const onRetry = vi.fn();
    setup({ saveState: { status: "error", error: "Cannot reach the server." }, onRetry });
    fireEvent.click(screen.getByRole("button", { name: "Retry" }));
    expect(onRetry).toHaveBeenCalledTimes(1);
  });

  it("shows the server's copy on a conflict and lets the user keep theirs or mine", () => {
    const onKeepMine = vi.fn();
    const onTakeTheirs = vi.fn();
    setup({
      saveState: {
        status: "conflict",
        error: "changed",
        theirs: makeSegment({ id: "s1", prompt: "from the other tab", version: 4 }),
      },
      onKeepMine,
      onTakeTheirs,
    });
    expect(screen.getByTestId("save-conflict")).toHaveTextContent("from the other tab");
    expect(screen.getByTestId("save-status")).toHaveAttribute("data-status", "conflict");
    fireEvent.click(screen.getByRole("button", { name: "Keep mine" }));
    fireEvent.click(screen.getByRole("button", { name: "Use theirs" }));
    expect(onKeepMine).toHaveBeenCalledTimes(1);
    expect(onTakeTheirs).toHaveBeenCalledTimes(1);
  });

  it("says where the segment stands, and why it failed", () => {
    setup({ segment: makeSegment({ state: "failed", state_error: "rejected by moderation" }) });
    expect(screen.getByTestId("segment-state")).toHaveTextContent("Failed");
    expect(screen.getByTestId("segment-failure")).toHaveTextContent("rejected by moderation");
  });
});

describe("diffDraft", () => {
  it("treats blank negative prompt as null and ignores key order in params", () => {
    const seg = makeSegment({ negative_prompt: null, params: { a: 1, b: 2 }, seed: 3 });
    const draft = {
      prompt: seg.prompt,
      negative_prompt: "  ",
      model: seg.model,
      duration: String(seg.duration),
      seed: "3",
      params: { b: 2, a: 1 },
      caption: "",
      burn_caption: false,
      transition: { kind: "" as const, duration: "" },
      init_image_asset_id: null,
      continue_from_previous: false,
    };
    expect(diffDraft(seg, draft)).toEqual({});
    expect(diffDraft(seg, { ...draft, continue_from_previous: true })).toEqual({ continue_from_previous: true });
    expect(diffDraft(seg, { ...draft, burn_caption: true })).toEqual({ burn_caption: true });
    expect(diffDraft(seg, { ...draft, negative_prompt: "blur", duration: "1.5" })).toEqual({
      negative_prompt: "blur",
      duration: 1.5,
    });
  });
});
