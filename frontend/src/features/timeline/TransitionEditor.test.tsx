import { fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import {
  describeTransition,
  type TransitionDraft,
  TransitionEditor,
  transitionDraftOf,
  transitionFromDraft,
  validateTransition,
} from "./TransitionEditor";

function Harness({ initial, onChange }: { initial: TransitionDraft; onChange: (d: TransitionDraft) => void }) {
  const [value, setValue] = useState(initial);
  return (
    <TransitionEditor
      label="Transition into next"
      nullLabel="Project default"
      value={value}
      onChange={(next) => {
        setValue(next);
        onChange(next);
      }}
    />
  );
}

describe("<TransitionEditor>", () => {
  it("offers the project default (null) and every kind", () => {
    render(<Harness initial={transitionDraftOf(null)} onChange={vi.fn()} />);
    const select = screen.getByLabelText("Transition into next");
    expect(select).toHaveValue("");
    expect(screen.getAllByRole("option").map((o) => o.textContent)).toEqual([
      "Project default",
      "Cut",
      "Crossfade",
      "Fade through black",
      "Wipe left",
      "Wipe right",
    ]);
    // No length to set without a kind
    expect(screen.queryByLabelText("Transition length (s)")).not.toBeInTheDocument();
  });

  it("picks a kind with the default 0.5 s, edits the length and goes back to null", () => {
    const onChange = vi.fn();
    render(<Harness initial={transitionDraftOf(null)} onChange={onChange} />);
    fireEvent.change(screen.getByLabelText("Transition into next"), { target: { value: "crossfade" } });
    expect(onChange).toHaveBeenLastCalledWith({ kind: "crossfade", duration: "0.5" });
    fireEvent.change(screen.getByLabelText("Transition length (s)"), { target: { value: "1.25" } });
    expect(onChange).toHaveBeenLastCalledWith({ kind: "crossfade", duration: "1.25" });
    fireEvent.change(screen.getByLabelText("Transition into next"), { target: { value: "wipe_left" } });
    expect(onChange).toHaveBeenLastCalledWith({ kind: "wipe_left", duration: "1.25" });
    fireEvent.change(screen.getByLabelText("Transition into next"), { target: { value: "" } });
    expect(onChange).toHaveBeenLastCalledWith({ kind: "", duration: "" });
  });

  it("hides the length for a cut", () => {
    render(<Harness initial={{ kind: "cut", duration: "0.5" }} onChange={vi.fn()} />);
    expect(screen.getByLabelText("Transition into next")).toHaveValue("cut");
    expect(screen.queryByLabelText("Transition length (s)")).not.toBeInTheDocument();
  });

  it("flags a length outside 0..5 s", () => {
    render(<Harness initial={{ kind: "fade_black", duration: "0.5" }} onChange={vi.fn()} />);
    const length = screen.getByLabelText("Transition length (s)");
    fireEvent.change(length, { target: { value: "7" } });
    expect(screen.getByText("Between 0 and 5 s")).toBeInTheDocument();
    expect(length).toHaveAttribute("aria-invalid", "true");
    fireEvent.change(length, { target: { value: "5" } });
    expect(screen.queryByText("Between 0 and 5 s")).not.toBeInTheDocument();
  });

  it("shows server messages", () => {
    render(
      <TransitionEditor
        label="Default transition"
        nullLabel="None"
        value={{ kind: "crossfade", duration: "1" }}
        onChange={vi.fn()}
        error="bad kind"
        durationError="too long"
      />,
    );
    expect(screen.getByText("bad kind")).toBeInTheDocument();
    expect(screen.getByText("too long")).toBeInTheDocument();
  });
});

describe("transition drafts", () => {
  it("round-trip between the API shape and the draft", () => {
    expect(transitionDraftOf({ kind: "wipe_right", duration: 2 })).toEqual({ kind: "wipe_right", duration: "2" });
    expect(transitionFromDraft({ kind: "wipe_right", duration: "2" })).toEqual({ kind: "wipe_right", duration: 2 });
    expect(transitionFromDraft({ kind: "crossfade", duration: " " })).toEqual({ kind: "crossfade", duration: 0.5 });
    expect(transitionFromDraft({ kind: "", duration: "3" })).toBeNull();
  });

  it("validate and describe", () => {
    expect(validateTransition({ kind: "crossfade", duration: "-1" })).toBe("Between 0 and 5 s");
    expect(validateTransition({ kind: "crossfade", duration: "abc" })).toBe("Between 0 and 5 s");
    expect(validateTransition({ kind: "crossfade", duration: "0" })).toBeUndefined();
    expect(validateTransition({ kind: "", duration: "99" })).toBeUndefined();
    expect(describeTransition({ kind: "crossfade", duration: 0.5 })).toBe("Crossfade 0.5 s");
    expect(describeTransition({ kind: "cut", duration: 0.5 })).toBe("Cut");
  });
});
