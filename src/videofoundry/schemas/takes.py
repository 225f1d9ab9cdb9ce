from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from videofoundry.schemas.common import Strict


class TakePublic(BaseModel):
    """A clip generated for a segment, with what it was generated from."""

    id: str
    """Send it to `POST /api/segments/{segment_id}/takes/{id}/use`."""
    segment_id: str
    job_id: str
    """The render (or variations) job that generated it."""
    spec_hash: str
    prompt: str
    negative_prompt: str | None
    model: str
    params: dict[str, Any]
    seed: int
    duration: float
    continue_from_previous: bool
    current: bool
    """The segment's current spec is this take's: a render uses this clip."""
    cost: float
    """What generating it cost (0 when it reused a clip that already existed)."""
    clip_url: str | None
    poster_url: str | None
    created_at: datetime | None


class VariationsRequest(Strict):
    count: int = Field(ge=1, le=4, description="How many new takes (new seeds) to generate")
