import { fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { appStore } from "../../store";
import { makeDetail, makeJob, makeSegment, showJob, showProject } from "../../test/factories";
import { blockWidth, MIN_BLOCK_PX, PX_PER_SECOND, Timeline } from "./Timeline";

const initial = appStore.getState();
afterEach(() => appStore.setState(initial, true));

describe("<Timeline>", () => {
  it("draws blocks in order with widths proportional to duration", () => {
    showProject(
      makeDetail([
        makeSegment({ id: "a", position: 0, duration: 2, prompt: "first" }),
        makeSegment({ id: "b", position: 1, duration: 4, prompt: "second", poster_url: "/p.jpg" }),
      ]),
    );
    render(<Timeline />);
    const blocks = screen.getAllByTestId("segment-block");
    expect(blocks.map((b) => b.dataset.segmentId)).toEqual(["a", "b"]);
    expect(blocks[0]?.style.width).toBe(`${2 * PX_PER_SECOND}px`);
    expect(blocks[1]?.style.width).toBe(`${4 * PX_PER_SECOND}px`);
    expect(blocks[1]?.style.backgroundImage).toContain("/p.jpg");
    expect(blockWidth(0.1)).toBe(MIN_BLOCK_PX);
  });

  it("shows each segment's own state, not the last job's, and selects on click", () => {
    showProject(
      makeDetail([
        makeSegment({ id: "s1", position: 0, state: "needs_render" }),
        makeSegment({ id: "s2", position: 1, state: "failed", state_error: "rejected" }),
        makeSegment({ id: "s3", position: 2, state: "generating", state_progress: 0.1 }),
      ]),
    );
    appStore.setState({ selectedSegmentId: "s1" });
    showJob(
      makeJob({
        status: "generating",
        segments: [
          // s1 was edited since this job reused it: "reused" would be a stale label.
          { ...jobRow("s1", 0), status: "completed", progress: 1, reused: true },
          { ...jobRow("s2", 1), status: "failed", progress: 0.2, error: "rejected" },
          { ...jobRow("s3", 2), status: "running", progress: 0.4 },
        ],
      }),
    );
    render(<Timeline />);
    const states = screen.getAllByTestId("segment-state");
    expect(states.map((el) => el.textContent)).toEqual(["Needs render", "Failed", "Generating 40%"]);
    expect(screen.queryByText("reused")).not.toBeInTheDocument();
    expect(states[1]).toHaveAttribute("title", "rejected");
    fireEvent.click(screen.getAllByTestId("segment-block")[1] as HTMLElement);
    expect(appStore.getState().selectedSegmentId).toBe("s2");
  });

  it("links a shot that continues to the block before it", () => {
    showProject(
      makeDetail([
        makeSegment({ id: "a", position: 0 }),
        makeSegment({ id: "b", position: 1, continue_from_previous: true }),
        makeSegment({ id: "c", position: 2 }),
      ]),
    );
    render(<Timeline />);
    const blocks = screen.getAllByTestId("segment-block");
    expect(blocks.map((b) => b.classList.contains("continues"))).toEqual([false, true, false]);
    const [marker] = screen.getAllByTestId("continue-marker");
    expect(marker).toHaveAttribute("aria-label", "Continues from segment 1");
    expect(blocks[1]).toContainElement(marker as HTMLElement);
  });

  it("marks segments with a caption, a transition or an init image", () => {
    showProject(
      makeDetail([
        makeSegment({ id: "a", position: 0, caption: "Hello", transition: { kind: "crossfade", duration: 0.5 } }),
        makeSegment({ id: "b", position: 1, init_image_asset_id: "img1" }),
        makeSegment({ id: "c", position: 2, caption: "  " }),
      ]),
    );
    render(<Timeline />);
    const [a, b, c] = screen.getAllByTestId("segment-block") as [HTMLElement, HTMLElement, HTMLElement];
    expect(a.querySelector("[data-testid=caption-marker]")).toHaveAttribute("title", "Caption: Hello");
    const transition = a.querySelector("[data-testid=transition-marker]");
    expect(transition).toHaveAttribute("data-kind", "crossfade");
    expect(transition).toHaveAccessibleName("Transition: Crossfade 0.5 s");
    expect(b.querySelector("[aria-label='Has an init image']")).not.toBeNull();
    expect(b.querySelector("[data-testid=caption-marker]")).toBeNull();
    expect(c.querySelector(".segment-marker")).toBeNull();
  });

  it("invites adding a segment when empty", () => {
    showProject(makeDetail([]));
    render(<Timeline />);
    expect(screen.getByText(/No segments yet/)).toBeInTheDocument();
  });
});

function jobRow(segmentId: string, position: number) {
  return {
    segment_id: segmentId,
    position,
    status: "pending" as const,
    progress: 0,
    reused: false,
    error: null,
    message: null,
    weight: 1 / 3,
  };
}
