/**
 * The time ruler under the monitor: timecodes, the playhead (moved on each clock change, outside
 * React), click/drag scrubbing, and a lane of the segments at their trimmed lengths, fitted to
 * the width (no sideways scroll at any size). Dragging a lane block's edge trims the segment,
 * snapping to frames; the edit goes through the timeline's autosave and undo like any other.
 */
import { type PointerEvent as ReactPointerEvent, useEffect, useRef, useState } from "react";
import type { Id } from "../../api/types";
import { formatTimecode } from "../../components/format";
import { useAppShallow } from "../../store";
import { usePlayback, useSpanIndexAtPlayhead } from "./PlaybackContext";
import { dragTrim, spanAt, spansOf, type Trim } from "./timeMap";

/** Steps between labelled ticks from a second up; below a second the steps are whole frames. */
const SECOND_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
/** A label's width: `HH:MM:SS` or `HH:MM:SS:FF` in the ruler's monospace (0.7rem, 0.6 em a character). */
const labelPx = (withFrames: boolean) => (withFrames ? 11 : 8) * 6 + 4;
/** The least space between one label and the next. */
const LABEL_GAP_PX = 12;

/**
 * The ruler's labelled ticks: the finest step whose labels do not touch at this width. Labels are
 * the monitor's timecodes; the frames are left off when every tick is on a whole second. Sub-second
 * steps (a quarter and a half second, rounded) are whole frames, so every label is exact.
 */
export function rulerTicks(duration: number, widthPx: number, fps: number): { time: number; label: string }[] {
  if (!(duration > 0) || !(widthPx > 0)) return [];
  const rate = Math.max(1, Math.round(fps));
  const subSecond = [Math.round(rate / 4), Math.round(rate / 2)].filter((f) => f >= 1 && f < rate);
  const steps = [...new Set([...subSecond, ...SECOND_STEPS.map((s) => s * rate)])];
  const pxPerFrame = widthPx / (duration * rate);
  const fits = (step: number) => step * pxPerFrame >= labelPx(step % rate !== 0) + LABEL_GAP_PX;
  const step = steps.find(fits) ?? (steps[steps.length - 1] as number);
  const frames = step % rate !== 0;
  const ticks: { time: number; label: string }[] = [];
  // A label needs room to its right: none squeezed against the end.
  for (let at = 0; (duration * rate - at) * pxPerFrame >= labelPx(frames) && ticks.length < 200; at += step) {
    ticks.push({ time: at / rate, label: formatTimecode(at / rate, rate, { frames }) });
  }
  return ticks;
}

interface TrimDrag {
  id: Id;
  edge: "start" | "end";
  startX: number;
  secondsPerPx: number;
  /** The lane's scale when the drag began, kept so the edge follows the pointer. */
  scale: number;
  trim: Trim;
}

export function TimeRuler() {
  const { clock, segments, fps } = usePlayback();
  const { selectedId, selectSegment, editSegment } = useAppShallow((s) => ({
    selectedId: s.selectedSegmentId,
    selectSegment: s.selectSegment,
    editSegment: s.editSegment,
  }));
  const [drag, setDrag] = useState<TrimDrag | null>(null);
  const [width, setWidth] = useState(600);
  const rulerRef = useRef<HTMLDivElement>(null);
  const playheadRef = useRef<HTMLDivElement>(null);

  // While an edge is dragged the lane shows the trim it would make (saved on release).
  const shownSegments = drag
    ? segments.map((s) =>
        s.id === drag.id ? { ...s, trim_start: drag.trim.trim_start, trim_end: drag.trim.trim_end } : s,
      )
    : segments;
  const spans = spansOf(shownSegments);
  const duration = spans.length ? (spans[spans.length - 1]?.end ?? 0) : 0;
  const scale = drag ? Math.max(drag.scale, duration) : duration;
  const underPlayhead = useSpanIndexAtPlayhead(clock, spans);

  useEffect(() => {
    const el = rulerRef.current;
    if (!el || typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(() => setWidth(el.clientWidth || 600));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  useEffect(() => {
    const place = () => {
      const el = playheadRef.current;
      if (!el) return;
      const fraction = scale > 0 ? clock.state.time / scale : 0;
      el.style.left = `${Math.min(Math.max(fraction, 0), 1) * 100}%`;
      el.dataset.time = clock.state.time.toFixed(3);
      rulerRef.current?.setAttribute("aria-valuenow", clock.state.time.toFixed(2));
      rulerRef.current?.setAttribute("aria-valuetext", formatTimecode(clock.state.time, fps));
    };
    place();
    return clock.subscribe(place);
  }, [clock, scale, fps]);

  const timeAtX = (clientX: number): number => {
    const rect = rulerRef.current?.getBoundingClientRect();
    if (!rect || rect.width <= 0) return 0;
    return ((clientX - rect.left) / rect.width) * scale;
  };

  // Scrubbing: press anywhere on the ruler (not on a trim handle), drag, release.
  const onScrubDown = (e: ReactPointerEvent<HTMLDivElement>) => {
    if (e.button !== 0 || (e.target as HTMLElement).closest(".trim-handle")) return;
    e.currentTarget.setPointerCapture?.(e.pointerId);
    clock.pause();
    clock.seek(timeAtX(e.clientX));
  };
  const onScrubMove = (e: ReactPointerEvent<HTMLDivElement>) => {
    if (drag) return onTrimMove(e);
    if (!e.currentTarget.hasPointerCapture?.(e.pointerId)) return;
    clock.seek(timeAtX(e.clientX));
  };
  const onScrubUp = (e: ReactPointerEvent<HTMLDivElement>) => {
    if (drag) return onTrimUp();
    if (!e.currentTarget.hasPointerCapture?.(e.pointerId)) return;
    e.currentTarget.releasePointerCapture(e.pointerId);
    // Land on the segment under the playhead: it is the one the inspector shows.
    const span = spanAt(spans, clock.state.time);
    if (span && span.id !== selectedId) selectSegment(span.id);
  };

  const onTrimDown = (e: ReactPointerEvent<HTMLSpanElement>, id: Id, edge: "start" | "end") => {
    if (e.button !== 0) return;
    e.stopPropagation();
    rulerRef.current?.setPointerCapture?.(e.pointerId);
    const segment = segments.find((s) => s.id === id);
    const rect = rulerRef.current?.getBoundingClientRect();
    if (!segment || !rect || rect.width <= 0) return;
    selectSegment(id);
    setDrag({
      id,
      edge,
      startX: e.clientX,
      secondsPerPx: duration / rect.width,
      scale: duration,
      trim: { trim_start: segment.trim_start ?? null, trim_end: segment.trim_end ?? null },
    });
  };
  const onTrimMove = (e: ReactPointerEvent<HTMLDivElement>) => {
    if (!drag) return;
    const segment = segments.find((s) => s.id === drag.id);
    if (!segment) return;
    const delta = (e.clientX - drag.startX) * drag.secondsPerPx;
    setDrag({ ...drag, trim: dragTrim(segment, drag.edge, delta, fps) });
  };
  const onTrimUp = () => {
    if (!drag) return;
    const segment = segments.find((s) => s.id === drag.id);
    setDrag(null);
    if (!segment) return;
    const patch: Trim = drag.trim;
    if (patch.trim_start !== (segment.trim_start ?? null) || patch.trim_end !== (segment.trim_end ?? null))
      editSegment(drag.id, patch);
  };

  const ticks = rulerTicks(scale, width, fps);

  return (
    <div
      className={drag ? "ruler trimming" : "ruler"}
      ref={rulerRef}
      data-testid="time-ruler"
      data-duration={duration.toFixed(3)}
      onPointerDown={onScrubDown}
      onPointerMove={onScrubMove}
      onPointerUp={onScrubUp}
      onPointerCancel={onScrubUp}
      role="slider"
      aria-label="Playhead"
      aria-valuemin={0}
      aria-valuemax={Number(duration.toFixed(2))}
      aria-valuenow={0}
      tabIndex={-1}
    >
      <div className="ruler-scale">
        {ticks.map((tick) => (
          <span key={tick.time} className="ruler-tick" style={{ left: `${(tick.time / scale) * 100}%` }}>
            {tick.label}
          </span>
        ))}
      </div>
      <div className="ruler-lane">
        {spans.map((span) => {
          const segment = shownSegments[span.index];
          const trimmed = segment && (segment.trim_start != null || segment.trim_end != null);
          return (
            <div
              key={span.id}
              className={[
                "lane-block",
                span.id === selectedId ? "selected" : "",
                span.index === underPlayhead ? "under-playhead" : "",
                trimmed ? "trimmed" : "",
              ].join(" ")}
              data-testid="lane-block"
              data-segment-id={span.id}
              data-start={span.start.toFixed(3)}
              data-end={span.end.toFixed(3)}
              style={{
                left: `${scale > 0 ? (span.start / scale) * 100 : 0}%`,
                width: `${scale > 0 ? ((span.end - span.start) / scale) * 100 : 0}%`,
                backgroundImage: segment?.poster_url ? `url("${segment.poster_url}")` : undefined,
              }}
              title={`Segment ${span.index + 1}: ${formatTimecode(span.start, fps)} – ${formatTimecode(span.end, fps)}`}
            >
              <span
                className="trim-handle start"
                data-testid="trim-start"
                title={`Drag to trim the start of segment ${span.index + 1}`}
                onPointerDown={(e) => onTrimDown(e, span.id, "start")}
              />
              <span className="lane-label">{span.index + 1}</span>
              <span
                className="trim-handle end"
                data-testid="trim-end"
                title={`Drag to trim the end of segment ${span.index + 1}`}
                onPointerDown={(e) => onTrimDown(e, span.id, "end")}
              />
            </div>
          );
        })}
      </div>
      <div className="playhead" ref={playheadRef} data-testid="playhead" />
    </div>
  );
}
