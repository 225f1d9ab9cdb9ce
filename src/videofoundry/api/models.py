from __future__ import annotations

from fastapi import APIRouter

from videofoundry.api.deps import CurrentUser, RuntimeDep
from videofoundry.schemas.render import ModelPublic

router = APIRouter(prefix="/api", tags=["models"])


@router.get("/models", response_model=list[ModelPublic])
async def list_models(_user: CurrentUser, runtime: RuntimeDep) -> list[ModelPublic]:
    """Every model of every adapter, with availability, limits, params schema and price."""
    return [
        ModelPublic(
            id=e.model.id,
            label=e.model.label,
            adapter=e.adapter,
            available=e.unavailable_reason is None,
            unavailable_reason=e.unavailable_reason,
            deprecated=e.model.deprecated,
            text_to_video=e.model.text_to_video,
            image_to_video=e.model.image_to_video,
            min_duration=e.model.min_duration,
            max_duration=e.model.max_duration,
            durations=list(e.model.durations) if e.model.durations else None,
            aspect_ratios=list(e.model.aspect_ratios) if e.model.aspect_ratios else None,
            max_prompt_length=e.model.max_prompt_length,
            price_per_second=e.model.price_per_second,
            params_schema=e.model.params_schema,
        )
        for e in runtime.registry.catalogue()
    ]
