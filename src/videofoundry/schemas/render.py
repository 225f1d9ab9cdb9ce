from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel


class SegmentStatus(BaseModel):
    segment_id: str
    position: int
    status: Literal["pending", "running", "completed", "failed", "cancelled"]
    progress: float
    reused: bool
    error: str | None
    message: str | None
    weight: float = 0.0
    """Share of the job's generation progress this segment carries (its duration over the
    total); the weights of a job add up to 1."""
    prompt: str | None = None
    """What this job used, as it was when the job was created (not the segment today)."""
    negative_prompt: str | None = None
    model: str | None = None
    params: dict[str, Any] | None = None
    seed: int | None = None
    duration: float | None = None
    trim_start: float | None = None
    """In point the job composed from (seconds into the clip; null: its start)."""
    trim_end: float | None = None
    """Out point the job composed to (seconds into the clip; null: its end)."""
    clip_url: str | None = None
    poster_url: str | None = None


class RenderJobPublic(BaseModel):
    id: str
    project_id: str
    kind: Literal["render", "variations"] = "render"
    """`variations`: new takes of one segment (`POST /api/segments/{id}/variations`); such a
    job ends with clips and no video."""
    status: Literal["queued", "generating", "composing", "completed", "failed", "cancelled"]
    progress: float
    seq: int
    segments: list[SegmentStatus]
    error: str | None
    video_url: str | None
    poster_url: str | None
    captions_url: str | None = None
    """WebVTT of the segments' captions, when any segment has one."""
    duration: float | None
    eta_seconds: float | None = None
    """Estimated seconds left, once a few segments have finished; None before and at the end."""
    estimated_cost: float
    actual_cost: float
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class PlannedSegment(BaseModel):
    segment_id: str
    position: int
    model: str
    action: Literal["reuse", "generate"]
    estimated_cost: float
    continues_from: str | None = None
    """The segment this one starts from (its last frame), when it continues a shot."""
    waits_for: str | None = None
    """That segment, when its clip is generated in this render first: the chain runs in order."""
    trim_start: float | None = None
    trim_end: float | None = None
    duration: float | None = None
    """Seconds the segment lasts in the video: its trimmed part of the clip."""
    reason: str | None = None
    """Why a clip already stored for this segment is generated again (missing or damaged)."""


class RenderPlan(BaseModel):
    segments: list[PlannedSegment]
    total_estimated_cost: float
    compose: bool
    total_duration: float | None = None
    compose_reason: str | None = None
    """Why the final video stored for this timeline is composed again (missing or damaged)."""
    """The timeline's length with trims (transitions not subtracted)."""
    """False when the same final video already exists: nothing at all will run."""


class ModelPublic(BaseModel):
    id: str
    label: str
    adapter: str
    available: bool
    unavailable_reason: str | None
    deprecated: str | None
    text_to_video: bool
    image_to_video: bool
    min_duration: float
    max_duration: float
    durations: list[float] | None
    aspect_ratios: list[str] | None
    max_prompt_length: int
    price_per_second: float
    params_schema: dict[str, Any]
