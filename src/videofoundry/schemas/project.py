from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from videofoundry.schemas.common import Public, Strict


class Transition(Strict):
    kind: Literal["cut", "crossfade", "fade_black", "wipe_left", "wipe_right"]
    duration: float = Field(default=0.5, ge=0, le=5)


def _even(value: int | None) -> int | None:
    # H.264 with yuv420p needs even dimensions.
    if value is not None and value % 2:
        raise ValueError("must be an even number of pixels")
    return value


class ProjectCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    width: int = Field(default=1280, ge=64, le=3840)
    height: int = Field(default=720, ge=64, le=3840)
    fps: int = Field(default=24, ge=1, le=60)
    aspect_mode: Literal["fit", "fill"] = "fit"
    default_transition: Transition | None = None
    soundtrack_asset_id: str | None = Field(default=None, description="An uploaded audio asset")

    _even_w = field_validator("width", "height")(_even)


class ProjectUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    width: int | None = Field(default=None, ge=64, le=3840)
    height: int | None = Field(default=None, ge=64, le=3840)
    fps: int | None = Field(default=None, ge=1, le=60)
    aspect_mode: Literal["fit", "fill"] | None = None
    default_transition: Transition | None = None
    soundtrack_asset_id: str | None = None

    _even_w = field_validator("width", "height")(_even)


TRIM_START_HELP = (
    "In point: seconds into the generated clip where the segment starts (null: its start). "
    "Changing it generates nothing."
)
TRIM_END_HELP = (
    "Out point: seconds into the generated clip where the segment ends (null: its end), "
    "at most `duration`. Changing it generates nothing."
)


class SegmentCreate(Strict):
    prompt: str = Field(min_length=1, max_length=2000)
    model: str = Field(default="procedural", min_length=1, max_length=200)
    duration: float = Field(gt=0, le=600, description="Seconds; the model sets the real bounds.")
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = Field(default=None, ge=0, le=4294967294)
    negative_prompt: str | None = Field(default=None, max_length=2000)
    caption: str | None = Field(default=None, max_length=500)
    burn_caption: bool = False
    transition: Transition | None = None
    init_image_asset_id: str | None = Field(default=None, description="An uploaded image")
    continue_from_previous: bool = Field(
        default=False,
        description="Start from the previous segment's last frame (an image-to-video model).",
    )
    trim_start: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description=TRIM_START_HELP
    )
    trim_end: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description=TRIM_END_HELP
    )
    position: int | None = Field(default=None, ge=0, description="Insert here; default: end.")


class SegmentUpdate(Strict):
    prompt: str | None = Field(default=None, min_length=1, max_length=2000)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    duration: float | None = Field(default=None, gt=0, le=600)
    params: dict[str, Any] | None = None
    seed: int | None = Field(default=None, ge=0, le=4294967294)
    negative_prompt: str | None = Field(default=None, max_length=2000)
    caption: str | None = Field(default=None, max_length=500)
    burn_caption: bool | None = None
    transition: Transition | None = None
    init_image_asset_id: str | None = None
    continue_from_previous: bool | None = None
    trim_start: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description=TRIM_START_HELP
    )
    trim_end: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description=TRIM_END_HELP
    )


class SegmentOrder(Strict):
    segment_ids: list[str]


SegmentState = Literal["ready", "needs_render", "generating", "failed"]


class SegmentPublic(Public):
    id: str
    project_id: str
    position: int
    prompt: str
    negative_prompt: str | None
    model: str
    params: dict[str, Any]
    duration: float
    seed: int
    caption: str | None
    burn_caption: bool
    transition: dict[str, Any] | None
    init_image_asset_id: str | None
    continue_from_previous: bool = False
    trim_start: float | None = None
    trim_end: float | None = None
    spec_hash: str
    version: int = 1
    """Send it back as `If-Match: "<version>"` on an update; a stale one answers 412."""
    state: SegmentState = "needs_render"
    """Where the segment stands, from the database: `ready` (a clip of its current spec
    exists), `needs_render`, `generating` (see `state_progress`) or `failed` (`state_error`)."""
    state_progress: float | None = None
    state_error: str | None = None
    poster_url: str | None = None
    clip_url: str | None = None
    created_at: datetime
    updated_at: datetime


class ProjectPublic(Public):
    id: str
    version: int = 1
    name: str
    width: int
    height: int
    fps: int
    aspect_mode: str
    default_transition: dict[str, Any] | None
    soundtrack_asset_id: str | None
    segment_count: int
    total_duration: float
    created_at: datetime
    updated_at: datetime


class ProjectCard(ProjectPublic):
    """A project as the list shows it."""

    poster_url: str | None = None
    """Signed link to a still for the card: the poster of the first segment that has a clip,
    else of the latest final video; null when there is neither."""


class ProjectDetail(ProjectPublic):
    segments: list[SegmentPublic]
    needs_render_count: int = 0
    """Segments with no clip of their current spec and none generating."""
    render_estimate: float = 0.0
    """USD a render would cost now (each distinct spec that needs a render, once)."""


class SegmentConflict(BaseModel):
    """412: the segment changed since the version the client sent."""

    detail: str
    current: SegmentPublic


class ProjectConflict(BaseModel):
    """412: the project changed since the version the client sent."""

    detail: str
    current: ProjectDetail
