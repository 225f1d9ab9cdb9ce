/**
 * The inspector's clip section for the selected segment: play it alone in the monitor, its in
 * and out points (set by dragging the lane block's edges, or typed here, snapped to frames), and
 * its takes.
 */
import type { Segment } from "../../api/types";
import { formatSeconds, formatTimecode } from "../../components/format";
import { useAppStore } from "../../store";
import { TakesStrip } from "../takes/TakesStrip";
import { usePlayback } from "./PlaybackContext";
import { inPointOf, outPointOf, snapToFrame } from "./timeMap";

export function SegmentClipPanel({ segment }: { segment: Segment }) {
  const { clock, spans, fps } = usePlayback();
  const editSegment = useAppStore((s) => s.editSegment);
  const span = spans.find((s) => s.id === segment.id);
  const inPoint = inPointOf(segment);
  const outPoint = outPointOf(segment);
  const trimmed = segment.trim_start != null || segment.trim_end != null;

  const setPoint = (field: "trim_start" | "trim_end", raw: string) => {
    const value = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(value)) return;
    const snapped = snapToFrame(value, fps);
    const atEdge = field === "trim_start" ? snapped <= 0 : snapped >= segment.duration;
    editSegment(segment.id, { [field]: atEdge ? null : snapped });
  };

  return (
    <section className="clip-panel" aria-label="Clip" data-testid="clip-panel">
      <div className="row between">
        <h3>Clip</h3>
        <button
          type="button"
          className="small"
          disabled={!span || span.end <= span.start}
          onClick={() => span && clock.playRange(span.start, span.end)}
          data-testid="play-segment"
        >
          ▶ Play this segment
        </button>
      </div>
      <div className="trim-points row gap small">
        <label>
          In
          <input
            key={`in:${inPoint}`}
            type="number"
            min={0}
            step={1 / fps}
            defaultValue={Number(inPoint.toFixed(3))}
            onBlur={(e) => setPoint("trim_start", e.target.value)}
            aria-label="In point (seconds into the clip)"
            data-testid="trim-in"
          />
          <span className="muted timecode">{formatTimecode(inPoint, fps)}</span>
        </label>
        <label>
          Out
          <input
            key={`out:${outPoint}`}
            type="number"
            min={0}
            max={segment.duration}
            step={1 / fps}
            defaultValue={Number(outPoint.toFixed(3))}
            onBlur={(e) => setPoint("trim_end", e.target.value)}
            aria-label="Out point (seconds into the clip)"
            data-testid="trim-out"
          />
          <span className="muted timecode">{formatTimecode(outPoint, fps)}</span>
        </label>
        <span className="muted" data-testid="trimmed-length">
          {formatSeconds(outPoint - inPoint)} of {formatSeconds(segment.duration)}
        </span>
        {trimmed && (
          <button
            type="button"
            className="link small"
            onClick={() => editSegment(segment.id, { trim_start: null, trim_end: null })}
          >
            Clear trim
          </button>
        )}
      </div>
      <p className="muted small">Drag a block's edges on the ruler to trim; trimming generates nothing.</p>
      <TakesStrip segment={segment} />
    </section>
  );
}
