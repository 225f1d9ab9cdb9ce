import {
  closestCenter,
  DndContext,
  type DragEndEvent,
  KeyboardSensor,
  PointerSensor,
  useSensor,
  useSensors,
} from "@dnd-kit/core";
import {
  horizontalListSortingStrategy,
  SortableContext,
  sortableKeyboardCoordinates,
  useSortable,
} from "@dnd-kit/sortable";
import { CSS } from "@dnd-kit/utilities";
import { useMemo, useState } from "react";
import { asTransition, type Id, type PlanAction, type RenderJobSegment, type Segment } from "../../api/types";
import { formatSeconds } from "../../components/format";
import { useAppShallow } from "../../store";
import { useShownPlan } from "../dashboard/useRender";
import { useShownJob } from "../dashboard/useShownJob";
import { useOptionalPlayback, useSpanIndexAtPlayhead } from "../monitor/PlaybackContext";
import { TrimHandles } from "../monitor/TrimHandles";
import { type Span, type Trim, trimmedLength } from "../monitor/timeMap";
import { SegmentStateBadge, segmentState, withLiveState } from "./SegmentState";
import { describeTransition } from "./TransitionEditor";
import { useProjectDetail, useSegments } from "./useProject";

export const PX_PER_SECOND = 96;
const NO_SPANS: Span[] = [];
export const MIN_BLOCK_PX = 84;

export function blockWidth(duration: number, pxPerSecond = PX_PER_SECOND): number {
  return Math.max(MIN_BLOCK_PX, Math.round(duration * pxPerSecond));
}

export function Timeline({ pxPerSecond = PX_PER_SECOND }: { pxPerSecond?: number }) {
  const detail = useProjectDetail().data;
  const segments = useSegments();
  const fps = detail?.fps ?? 24;
  const plan = useShownPlan();
  const activeJob = useShownJob();
  const { selectedId, selectSegment, moveSegment } = useAppShallow((s) => ({
    selectedId: s.selectedSegmentId,
    selectSegment: s.selectSegment,
    moveSegment: s.moveSegment,
  }));

  const sensors = useSensors(
    // A few pixels of movement before a drag starts, so a click still selects.
    useSensor(PointerSensor, { activationConstraint: { distance: 6 } }),
    useSensor(KeyboardSensor, { coordinateGetter: sortableKeyboardCoordinates }),
  );

  const renderState = useMemo(() => {
    const map = new Map<Id, RenderJobSegment>();
    for (const seg of activeJob?.segments ?? []) map.set(seg.segment_id, seg);
    return map;
  }, [activeJob]);

  const planState = useMemo(() => {
    const map = new Map<Id, PlanAction>();
    for (const seg of plan?.segments ?? []) map.set(seg.segment_id, seg.action);
    return map;
  }, [plan]);

  // The block the monitor's playhead is in is outlined (re-renders only when it crosses a boundary).
  const playback = useOptionalPlayback();
  const underPlayhead = useSpanIndexAtPlayhead(playback?.clock ?? null, playback?.spans ?? NO_SPANS);

  const onDragEnd = (event: DragEndEvent) => {
    const { active, over } = event;
    if (!over || active.id === over.id) return;
    void moveSegment(String(active.id), String(over.id));
  };

  if (segments.length === 0) {
    return <div className="timeline empty muted">No segments yet. Add one to start the timeline.</div>;
  }

  return (
    <DndContext sensors={sensors} collisionDetection={closestCenter} onDragEnd={onDragEnd}>
      <SortableContext items={segments.map((s) => s.id)} strategy={horizontalListSortingStrategy}>
        <ol className="timeline" aria-label="Timeline">
          {segments.map((segment, index) => (
            <SegmentBlock
              key={segment.id}
              segment={segment}
              index={index}
              pxPerSecond={pxPerSecond}
              fps={fps}
              underPlayhead={index === underPlayhead}
              selected={segment.id === selectedId}
              render={renderState.get(segment.id)}
              planned={planState.get(segment.id)}
              onSelect={() => selectSegment(segment.id)}
            />
          ))}
        </ol>
      </SortableContext>
    </DndContext>
  );
}

interface SegmentBlockProps {
  segment: Segment;
  index: number;
  pxPerSecond: number;
  fps: number;
  selected: boolean;
  /** The monitor's playhead is in this segment. */
  underPlayhead?: boolean;
  render: RenderJobSegment | undefined;
  planned: PlanAction | undefined;
  onSelect: () => void;
}

/** Small markers on a block: its caption, its own transition into the next segment, an init image. */
function SegmentMarkers({ segment }: { segment: Segment }) {
  const transition = asTransition(segment.transition);
  const caption = segment.caption?.trim() ? segment.caption : null;
  const continues = Boolean(segment.continue_from_previous) && segment.position > 0;
  if (!caption && !transition && !segment.init_image_asset_id && !continues) return null;
  return (
    <span className="segment-markers">
      {continues && (
        <span
          className="segment-marker"
          role="img"
          title={`Continues from segment ${segment.position}: starts on its last frame`}
          aria-label={`Continues from segment ${segment.position}`}
          data-testid="continue-marker"
        >
          ↪
        </span>
      )}
      {transition && (
        <span
          className="segment-marker"
          role="img"
          title={`Transition into the next segment: ${describeTransition(transition)}`}
          aria-label={`Transition: ${describeTransition(transition)}`}
          data-testid="transition-marker"
          data-kind={transition.kind}
        >
          ⇥{transition.kind === "cut" ? "cut" : `${transition.duration}s`}
        </span>
      )}
      {caption && (
        <span
          className="segment-marker"
          role="img"
          title={`Caption: ${caption}`}
          aria-label="Has a caption"
          data-testid="caption-marker"
        >
          CC
        </span>
      )}
      {segment.init_image_asset_id && (
        <span className="segment-marker" role="img" title="Starts from an init image" aria-label="Has an init image">
          IMG
        </span>
      )}
    </span>
  );
}

function SegmentBlock({
  segment,
  index,
  pxPerSecond,
  fps,
  selected,
  underPlayhead = false,
  render,
  planned,
  onSelect,
}: SegmentBlockProps) {
  // While an edge is dragged the block shows the trim it would make.
  const [trimPreview, setTrimPreview] = useState<Trim | null>(null);
  const kept = trimPreview ? { ...segment, ...trimPreview } : segment;
  const trimmed = kept.trim_start != null || kept.trim_end != null;
  const width = blockWidth(trimmedLength(kept), pxPerSecond);
  // The live job's row speaks for this segment only while it works on the segment's current spec:
  // after an edit, the old job's "reused" or "completed" would be a stale label.
  const shown = withLiveState(segment, render);
  const live = render && shown.state === "generating" ? render : undefined;
  const { progress } = segmentState(shown, live);
  const { attributes, listeners, setNodeRef, transform, transition, isDragging } = useSortable({ id: segment.id });
  const style = {
    width,
    transform: CSS.Translate.toString(transform),
    transition,
    backgroundImage: segment.poster_url ? `url("${segment.poster_url}")` : undefined,
  };
  return (
    // dnd-kit's `attributes` make this a focusable role="button"; its keyboard sensor handles keys
    // (space picks up, arrows move) and focusing a block selects it.
    // biome-ignore lint/a11y/useKeyWithClickEvents: keyboard handled by the sortable sensor and onFocus
    <li
      ref={setNodeRef}
      style={style}
      className={[
        "segment-block",
        selected ? "selected" : "",
        underPlayhead ? "under-playhead" : "",
        isDragging ? "dragging" : "",
        segment.poster_url ? "has-poster" : "",
        segment.continue_from_previous && index > 0 ? "continues" : "",
        `state-${shown.state}`,
      ].join(" ")}
      data-testid="segment-block"
      data-segment-id={segment.id}
      data-state={shown.state}
      aria-label={`Segment ${index + 1}: ${segment.prompt}`}
      aria-current={selected ? "true" : undefined}
      onClick={onSelect}
      onFocus={onSelect}
      {...attributes}
      {...listeners}
    >
      {/* Sticky, so a block wider than the view keeps its labels in sight while scrolled. */}
      <div className="segment-labels">
        <div className="segment-top">
          <span className="segment-index">{index + 1}</span>
          <SegmentMarkers segment={segment} />
          <span
            className="segment-duration"
            title={
              trimmed
                ? `Trimmed to ${formatSeconds(trimmedLength(kept))} of ${formatSeconds(segment.duration)}`
                : undefined
            }
          >
            {formatSeconds(trimmedLength(kept))}
            {trimmed ? " ✂" : ""}
          </span>
        </div>
        <div className="segment-prompt" title={segment.prompt}>
          {segment.prompt}
        </div>
        <div className="segment-bottom">
          {/* The segment's own state (from the database) first; the live job adds its progress. */}
          <SegmentStateBadge segment={shown} live={live} />
          {planned && shown.state !== "generating" && (
            <span className={`badge badge-${planned === "reuse" ? "ok" : "neutral"}`}>will {planned}</span>
          )}
          <span className="segment-model muted small">{segment.model}</span>
        </div>
      </div>
      {progress !== null && <div className="segment-progress" style={{ width: `${Math.round(progress * 100)}%` }} />}
      <TrimHandles segment={segment} index={index} pxPerSecond={pxPerSecond} fps={fps} onPreview={setTrimPreview} />
    </li>
  );
}
