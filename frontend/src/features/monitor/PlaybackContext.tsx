/**
 * One playback clock per open project, shared by the monitor, the time ruler, the segment tools
 * and the keyboard shortcuts. The clock's time never goes through React state; components read
 * it by subscribing (see clock.ts).
 */
import { createContext, type ReactNode, useContext, useEffect, useMemo, useState, useSyncExternalStore } from "react";
import type { Segment } from "../../api/types";
import { PlaybackClock } from "./clock";
import { type Span, spanAt, spansDuration, spansOf } from "./timeMap";
import { useEditorKeys } from "./useEditorKeys";

export interface Playback {
  clock: PlaybackClock;
  spans: Span[];
  duration: number;
  fps: number;
  segments: Segment[];
}

const PlaybackContext = createContext<Playback | null>(null);

export function PlaybackProvider({
  segments,
  fps,
  children,
}: {
  segments: Segment[];
  fps: number;
  children: ReactNode;
}) {
  const [clock] = useState(() => new PlaybackClock());
  useEffect(() => () => clock.dispose(), [clock]);
  const spans = useMemo(() => spansOf(segments), [segments]);
  const duration = spansDuration(spans);
  useEffect(() => clock.setDuration(duration), [clock, duration]);
  const value = useMemo(() => ({ clock, spans, duration, fps, segments }), [clock, spans, duration, fps, segments]);
  useEditorKeys(value);
  return <PlaybackContext.Provider value={value}>{children}</PlaybackContext.Provider>;
}

/** The playback of the editor around, or null outside one (components also used on their own). */
export function useOptionalPlayback(): Playback | null {
  return useContext(PlaybackContext);
}

export function usePlayback(): Playback {
  const value = useContext(PlaybackContext);
  if (!value) throw new Error("usePlayback needs a PlaybackProvider");
  return value;
}

/** Whether the clock is playing (re-renders on play/pause only). */
export function useIsPlaying(clock: PlaybackClock): boolean {
  return useSyncExternalStore(
    (onChange) => clock.subscribe(onChange),
    () => clock.state.playing,
  );
}

/** The index of the segment under the playhead (re-renders when the playhead crosses a boundary). */
export function useSpanIndexAtPlayhead(clock: PlaybackClock | null, spans: Span[]): number {
  return useSyncExternalStore(
    (onChange) => (clock ? clock.subscribe(onChange) : () => undefined),
    () => (clock ? (spanAt(spans, clock.state.time)?.index ?? -1) : -1),
  );
}
