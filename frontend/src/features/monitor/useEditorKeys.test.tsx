import { act, fireEvent, render } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { appStore } from "../../store";
import { makeSegment } from "../../test/factories";
import type { PlaybackClock } from "./clock";
import { PlaybackProvider, usePlayback } from "./PlaybackContext";

const initial = appStore.getState();
afterEach(() => appStore.setState(initial, true));

function Grab({ onClock }: { onClock: (clock: PlaybackClock) => void }) {
  onClock(usePlayback().clock);
  return null;
}

describe("editor keyboard", () => {
  it("steps frames, jumps to the ends, toggles play, and leaves fields and picked-up blocks alone", () => {
    const segments = [makeSegment({ id: "a", duration: 2 }), makeSegment({ id: "b", position: 1, duration: 1 })];
    let clock: PlaybackClock | null = null;
    const { getByTestId } = render(
      <PlaybackProvider segments={segments} fps={25}>
        <Grab onClock={(c) => (clock = c)} />
        <input data-testid="field" />
        <button type="button" aria-pressed="true" data-testid="moving" />
      </PlaybackProvider>,
    );
    const time = () => (clock as PlaybackClock | null)?.state.time ?? Number.NaN;
    const playing = () => (clock as PlaybackClock | null)?.state.playing;
    const press = (key: string, target: Element | Window = window, init: KeyboardEventInit = {}) =>
      act(() => {
        fireEvent.keyDown(target, { key, ...init });
      });

    press("ArrowRight");
    press("ArrowRight");
    expect(time()).toBeCloseTo(2 / 25, 6);
    press("ArrowLeft");
    expect(time()).toBeCloseTo(1 / 25, 6);
    press("ArrowRight", window, { shiftKey: true });
    expect(time()).toBeCloseTo(1 + 1 / 25, 6);
    press("End");
    expect(time()).toBe(3);
    press("Home");
    expect(time()).toBe(0);
    press(" ");
    expect(playing()).toBe(true);
    press(" ");
    expect(playing()).toBe(false);

    press("Home");
    press("ArrowRight", getByTestId("field"));
    press("ArrowRight", getByTestId("moving"));
    expect(time()).toBe(0);
  });
});
