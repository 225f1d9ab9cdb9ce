/**
 * The preview monitor: plays the whole timeline from the segments' own clips, so a segment is
 * watchable as soon as its clip exists, before and without composition. A segment with no clip
 * yet shows a slate for its duration, so timing is right from the start.
 *
 * Why the clips are sequenced here and not through the preview playlist with hls.js: the
 * playlist stops at the first segment without a clip (HLS cannot change a segment already
 * listed), so it cannot show a later finished segment while an earlier one still generates, nor
 * slates; and after each edit it must be loaded again. Sequencing the clips gives slates, trims
 * and edits immediately with no dependency. The playlist stays the way for other players.
 *
 * Only the segment under the playhead and the next one have a <video> (the next one preloads), so
 * a 200-segment timeline does not open 200 decoders.
 */
import { useEffect, useRef } from "react";
import type { RenderJobSegment, Segment } from "../../api/types";
import { formatSeconds, formatTimecode } from "../../components/format";
import { useShownJob } from "../dashboard/useShownJob";
import "./editor.css";
import type { PlaybackClock } from "./clock";
import { useIsPlaying, usePlayback, useSpanIndexAtPlayhead } from "./PlaybackContext";
import { clipTimeAt, type Span } from "./timeMap";
import { timelineRows, useLiveClips } from "./useLiveClips";

/** How far a playing video may drift from the clock before it is re-seeked (seconds). */
const MAX_DRIFT = 0.25;

export function Monitor() {
  const { clock, spans, duration, fps, segments } = usePlayback();
  const clips = useLiveClips(segments);
  const activeJob = useShownJob();
  const index = useSpanIndexAtPlayhead(clock, spans);
  const playing = useIsPlaying(clock);
  const rootRef = useRef<HTMLDivElement>(null);
  const timecodeRef = useRef<HTMLSpanElement>(null);
  const videos = useRef(new Map<string, HTMLVideoElement>());

  const current = index >= 0 ? spans[index] : undefined;
  const next = index >= 0 ? spans[index + 1] : undefined;
  const currentSegment = current ? segments[current.index] : undefined;
  const currentClip = current ? clips.get(current.id) : undefined;
  const currentRow = current ? timelineRows(activeJob).find((r) => r.segment_id === current.id) : undefined;

  // Every clock change: move the videos to the clock (the clock is the master), write the time.
  useEffect(() => {
    const sync = () => {
      const { time, playing: isPlaying } = clock.state;
      if (rootRef.current) rootRef.current.dataset.time = time.toFixed(3);
      if (timecodeRef.current) timecodeRef.current.textContent = formatTimecode(time, fps);
      syncVideos(clock, spans, videos.current, fps, isPlaying);
    };
    sync();
    return clock.subscribe(sync);
  }, [clock, spans, fps]);

  // A clip that arrives (or changes) under a paused playhead shows its frame at once.
  // biome-ignore lint/correctness/useExhaustiveDependencies: re-sync when the clip under the playhead changes
  useEffect(() => {
    syncVideos(clock, spans, videos.current, fps, clock.state.playing);
  }, [currentClip, clock, spans, fps]);

  const shown = [current, next].filter((s): s is Span => s !== undefined && clips.has(s.id));

  return (
    <div
      ref={rootRef}
      className="monitor"
      data-testid="monitor"
      data-playing={playing}
      data-segment-index={index}
      data-has-clip={currentClip ? "true" : "false"}
    >
      <div className="monitor-screen">
        {shown.map((span) => (
          // biome-ignore lint/a11y/useMediaCaption: generated clips have no captions track
          <video
            key={`${span.id}:${clips.get(span.id)}`}
            ref={(el) => {
              if (el) videos.current.set(span.id, el);
              else videos.current.delete(span.id);
            }}
            className={span === current ? "monitor-video on" : "monitor-video"}
            data-testid={span === current ? "monitor-video" : undefined}
            data-segment-id={span.id}
            src={clips.get(span.id)}
            poster={segments[span.index]?.poster_url ?? undefined}
            preload="auto"
            playsInline
            onLoadedData={() => syncVideos(clock, spans, videos.current, fps, clock.state.playing)}
          />
        ))}
        {current && !currentClip && currentSegment && (
          <Slate segment={currentSegment} span={current} row={currentRow} />
        )}
        {!current && <div className="slate muted">An empty timeline: add a segment to preview it.</div>}
      </div>
      <div className="monitor-bar">
        <button type="button" className="icon" onClick={() => clock.step(-1, fps)} aria-label="Previous frame">
          |◀
        </button>
        <button
          type="button"
          className="icon primary"
          onClick={() => clock.toggle()}
          aria-label={playing ? "Pause" : "Play"}
          data-testid="monitor-play"
          disabled={duration <= 0}
        >
          {playing ? "❚❚" : "▶"}
        </button>
        <button type="button" className="icon" onClick={() => clock.step(1, fps)} aria-label="Next frame">
          ▶|
        </button>
        <span className="timecode" data-testid="timecode" ref={timecodeRef}>
          {formatTimecode(clock.state.time, fps)}
        </span>
        <span className="timecode muted">/ {formatTimecode(duration, fps)}</span>
        <span className="monitor-where muted small">
          {current ? `Segment ${current.index + 1} of ${spans.length}` : ""}
          {current && !currentClip ? " · no clip yet" : ""}
        </span>
      </div>
    </div>
  );
}

/** What the slate says: the live render's row when one works on the segment, else its own state. */
function slateState(segment: Segment, row: RenderJobSegment | undefined): { kind: string; label: string } {
  if (row?.status === "running") return { kind: "generating", label: `Generating ${Math.round(row.progress * 100)}%` };
  if (row?.status === "pending") return { kind: "generating", label: "Queued to generate" };
  if (row?.status === "failed") return { kind: "failed", label: "Failed" };
  if (segment.state === "generating") return { kind: "generating", label: "Generating…" };
  if (segment.state === "failed") return { kind: "failed", label: "Failed" };
  // Not "not rendered yet": an edited segment may have old takes, but none for what it now says.
  return { kind: segment.state, label: "Needs a render" };
}

function Slate({ segment, span, row }: { segment: Segment; span: Span; row: RenderJobSegment | undefined }) {
  const { kind, label: state } = slateState(segment, row);
  return (
    <div className={`slate state-${kind}`} data-testid="monitor-slate">
      <span className="slate-index">Segment {span.index + 1}</span>
      <span className="slate-prompt">{segment.prompt}</span>
      <span className="slate-state">
        {state} · {formatSeconds(span.end - span.start)}
      </span>
    </div>
  );
}

/** Put the current video at the clock's time and play or pause it; park the next at its in point. */
function syncVideos(
  clock: PlaybackClock,
  spans: Span[],
  videos: Map<string, HTMLVideoElement>,
  fps: number,
  playing: boolean,
): void {
  const time = clock.state.time;
  let stalled = false;
  for (const span of spans) {
    const video = videos.get(span.id);
    if (!video) continue;
    const isCurrent = time >= span.start && (time < span.end || span.index === spans.length - 1);
    if (!isCurrent) {
      if (!video.paused) video.pause();
      if (video.readyState >= 1 && Math.abs(video.currentTime - span.inPoint) > 0.5 / fps)
        video.currentTime = span.inPoint;
      continue;
    }
    const want = clipTimeAt(span, time);
    if (video.readyState < 1) {
      stalled = playing;
      continue;
    }
    if (playing) {
      if (Math.abs(video.currentTime - want) > MAX_DRIFT) video.currentTime = want;
      if (video.paused) {
        video.play().catch(() => {
          // Autoplay with sound refused (no user gesture yet): play muted rather than not at all.
          video.muted = true;
          void video.play().catch(() => undefined);
        });
      }
      // Hold the clock while the clip has no frame to show, so the picture and the time agree.
      stalled = video.readyState < 3;
    } else {
      if (!video.paused) video.pause();
      if (Math.abs(video.currentTime - want) > 0.5 / fps) video.currentTime = want;
    }
  }
  clock.setStalled(stalled);
}
