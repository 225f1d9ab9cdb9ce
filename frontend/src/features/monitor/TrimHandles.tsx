/**
 * Edge handles that trim a timeline block by dragging (snapping to frames, see dragTrim). The
 * block shows the trim while dragging (`onPreview`); releasing saves it through the timeline's
 * autosave and undo. The handles stop the pointer from reaching the block, so dragging an edge
 * trims instead of reordering.
 */
import { type PointerEvent as ReactPointerEvent, useRef } from "react";
import type { Segment } from "../../api/types";
import { useAppStore } from "../../store";
import { dragTrim, type Trim } from "./timeMap";

export function TrimHandles({
  segment,
  index,
  pxPerSecond,
  fps,
  onPreview,
}: {
  segment: Segment;
  index: number;
  pxPerSecond: number;
  fps: number;
  onPreview: (trim: Trim | null) => void;
}) {
  const editSegment = useAppStore((s) => s.editSegment);
  const drag = useRef<{ edge: "start" | "end"; x: number; trim: Trim } | null>(null);

  const down = (edge: "start" | "end") => (e: ReactPointerEvent<HTMLSpanElement>) => {
    if (e.button !== 0) return;
    e.stopPropagation();
    e.preventDefault();
    e.currentTarget.setPointerCapture?.(e.pointerId);
    drag.current = {
      edge,
      x: e.clientX,
      trim: { trim_start: segment.trim_start ?? null, trim_end: segment.trim_end ?? null },
    };
  };
  const move = (e: ReactPointerEvent<HTMLSpanElement>) => {
    const current = drag.current;
    if (!current) return;
    e.stopPropagation();
    current.trim = dragTrim(segment, current.edge, (e.clientX - current.x) / pxPerSecond, fps);
    onPreview(current.trim);
  };
  const up = (e: ReactPointerEvent<HTMLSpanElement>) => {
    const current = drag.current;
    drag.current = null;
    if (!current) return;
    e.stopPropagation();
    onPreview(null);
    const { trim } = current;
    if (trim.trim_start !== (segment.trim_start ?? null) || trim.trim_end !== (segment.trim_end ?? null))
      editSegment(segment.id, trim);
  };
  const handlers = { onPointerMove: move, onPointerUp: up, onPointerCancel: up, onClick: stop, onKeyDown: stop };

  return (
    <>
      <span
        className="trim-handle start"
        data-testid="block-trim-start"
        title={`Drag to trim the start of segment ${index + 1}`}
        onPointerDown={down("start")}
        {...handlers}
      />
      <span
        className="trim-handle end"
        data-testid="block-trim-end"
        title={`Drag to trim the end of segment ${index + 1}`}
        onPointerDown={down("end")}
        {...handlers}
      />
    </>
  );
}

function stop(e: { stopPropagation: () => void }) {
  e.stopPropagation();
}
