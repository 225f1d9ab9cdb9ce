/**
 * Timeline time: where each segment sits once trimmed, which segment a time falls in, and the
 * frame arithmetic of the ruler and of trimming. Pure functions, so the clock, the monitor and
 * the ruler agree and the rules are unit-tested.
 */

export interface TimedSegment {
  id: string;
  duration: number;
  trim_start?: number | null;
  trim_end?: number | null;
}

/** One segment on the timeline: `start`/`end` in timeline seconds, `inPoint`/`outPoint` in its clip. */
export interface Span {
  id: string;
  index: number;
  start: number;
  end: number;
  inPoint: number;
  outPoint: number;
}

export function inPointOf(segment: TimedSegment): number {
  return segment.trim_start ?? 0;
}

export function outPointOf(segment: TimedSegment): number {
  return segment.trim_end ?? segment.duration;
}

/** Seconds the segment lasts on the timeline (its trimmed length; never negative). */
export function trimmedLength(segment: TimedSegment): number {
  return Math.max(0, outPointOf(segment) - inPointOf(segment));
}

/** The spans of a timeline, back to back (transitions shown as cuts, as in the preview). */
export function spansOf(segments: readonly TimedSegment[]): Span[] {
  const spans: Span[] = [];
  let start = 0;
  segments.forEach((segment, index) => {
    const length = trimmedLength(segment);
    spans.push({
      id: segment.id,
      index,
      start,
      end: start + length,
      inPoint: inPointOf(segment),
      outPoint: outPointOf(segment),
    });
    start += length;
  });
  return spans;
}

export function spansDuration(spans: readonly Span[]): number {
  return spans.length === 0 ? 0 : (spans[spans.length - 1] as Span).end;
}

/**
 * The span playing at `time` (a boundary belongs to the segment it starts), or the last span at
 * or after the end; null for an empty timeline.
 */
export function spanAt(spans: readonly Span[], time: number): Span | null {
  if (spans.length === 0) return null;
  let lo = 0;
  let hi = spans.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((spans[mid] as Span).start <= time) lo = mid;
    else hi = mid - 1;
  }
  return spans[lo] as Span;
}

/** Where in its clip a timeline time is shown. */
export function clipTimeAt(span: Span, time: number): number {
  const offset = Math.min(Math.max(time - span.start, 0), span.end - span.start);
  return span.inPoint + offset;
}

export function clampTime(time: number, duration: number): number {
  if (!Number.isFinite(time)) return 0;
  return Math.min(Math.max(time, 0), Math.max(duration, 0));
}

/** The nearest frame boundary (what the composition cuts at: round(seconds * fps)). */
export function snapToFrame(seconds: number, fps: number): number {
  return Math.round(seconds * fps) / fps;
}

/** The start of the frame showing at `time` (so frame stepping lands on frames, not between). */
export function frameFloor(time: number, fps: number): number {
  // A tiny epsilon so a time already on a frame boundary is not pushed one frame back by float error.
  return Math.floor(time * fps + 1e-6) / fps;
}

export interface Trim {
  trim_start: number | null;
  trim_end: number | null;
}

/**
 * The trim after dragging one edge of a segment by `deltaSeconds` on the timeline. Points snap
 * to frames, stay within the clip and keep at least one frame between them (the API's rules);
 * an edge dragged back to the clip's own end clears that trim (null).
 */
export function dragTrim(segment: TimedSegment, edge: "start" | "end", deltaSeconds: number, fps: number): Trim {
  const frame = 1 / fps;
  const inPoint = inPointOf(segment);
  const outPoint = outPointOf(segment);
  const duration = segment.duration;
  if (edge === "start") {
    const wanted = snapToFrame(inPoint + deltaSeconds, fps);
    const next = Math.min(Math.max(wanted, 0), snapToFrame(outPoint - frame, fps));
    return { trim_start: next <= 0 ? null : round6(next), trim_end: segment.trim_end ?? null };
  }
  const wanted = snapToFrame(outPoint + deltaSeconds, fps);
  const next = Math.max(Math.min(wanted, duration), snapToFrame(inPoint + frame, fps));
  return { trim_start: segment.trim_start ?? null, trim_end: next >= duration ? null : round6(next) };
}

/** Float noise off a snapped value (1/24 * 37 is not exactly representable). */
function round6(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
