import { fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { makeModel, makeSegment } from "../../test/factories";
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
  const onSave = vi.fn(async () => true);
  const segment = makeSegment({ id: "s1", prompt: "a red fox", duration: 2, seed: 42 });
  render(
    <Inspector
      segment={segment}
      models={models}
      saving={false}
      serverErrors={{}}
      onSave={onSave}
      onDuplicate={vi.fn()}
      onDelete={vi.fn(async () => true)}
      {...props}
    />,
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

  it("saves only the changed fields", async () => {
    const { onSave } = setup();
    expect(screen.getByRole("button", { name: "Save" })).toBeDisabled();
    fireEvent.change(screen.getByLabelText("Prompt"), { target: { value: "a blue fox" } });
    fireEvent.change(screen.getByLabelText(/Speed/), { target: { value: "2" } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await vi.waitFor(() => expect(onSave).toHaveBeenCalledWith({ prompt: "a blue fox", params: { speed: 2 } }));
  });

  it("draws a new seed", async () => {
    const { onSave } = setup();
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    fireEvent.click(screen.getByRole("button", { name: "New seed" }));
    expect(screen.getByLabelText("Seed")).toHaveValue(1073741823);
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await vi.waitFor(() => expect(onSave).toHaveBeenCalledWith({ seed: 1073741823 }));
  });

  it("checks the duration and params before saving", () => {
    const { onSave } = setup();
    fireEvent.change(screen.getByLabelText("Duration (s)"), { target: { value: "99" } });
    fireEvent.change(screen.getByLabelText(/Speed/), { target: { value: "9" } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    expect(screen.getByText("Between 0.5 and 30 s for Procedural")).toBeInTheDocument();
    expect(screen.getByText("Must be at most 4")).toBeInTheDocument();
    expect(onSave).not.toHaveBeenCalled();
  });

  it("shows server field errors next to the field the loc names", () => {
    setup({
      serverErrors: {
        prompt: "prompt rejected by moderation",
        "params.speed": "must be at most 4",
        transition: "unknown kind",
      },
    });
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
      transition: { kind: "" as const, duration: "" },
      init_image_asset_id: null,
    };
    expect(diffDraft(seg, draft)).toEqual({});
    expect(diffDraft(seg, { ...draft, negative_prompt: "blur", duration: "1.5" })).toEqual({
      negative_prompt: "blur",
      duration: 1.5,
    });
  });
});
