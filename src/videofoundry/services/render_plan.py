"""Planning a render: which segments to generate or reuse, at what cost, and the budget check."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry.adapters.registry import Registry
from videofoundry.core.config import Settings
from videofoundry.core.errors import BudgetExceeded, InvalidInput
from videofoundry.models import Asset, Project, Segment, User
from videofoundry.schemas.render import PlannedSegment, RenderPlan
from videofoundry.services import assets, continuity, integrity, quotas, trims
from videofoundry.services import spec_hash as hashing
from videofoundry.services.projects import clip_spec_of, get_project, segments_of
from videofoundry.storage import keys
from videofoundry.storage.base import Storage


class HasRegistry(Protocol):
    """What planning needs: the model registry and the settings (a `Runtime` has them)."""

    @property
    def registry(self) -> Registry: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def storage(self) -> Storage: ...


def composition_settings(project: Project, segments: list[Segment]) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "width": project.width,
        "height": project.height,
        "fps": project.fps,
        "default_transition": project.default_transition,
        "transitions": [s.transition for s in segments],
        "captions": [(s.caption, s.burn_caption) for s in segments],
        "soundtrack": project.soundtrack_asset_id,
    }
    cuts = [(s.trim_start, s.trim_end) for s in segments]
    if any(cut != (None, None) for cut in cuts):
        # Only when trimmed, so the final videos of untrimmed timelines keep their keys.
        settings["trims"] = cuts
    return settings


@dataclass
class PlannedWork:
    """One segment of a planned render: its clip spec, and the clip when it already exists."""

    segment: Segment
    spec: dict[str, Any]
    spec_hash: str
    clip: Asset | None
    cost: Decimal
    previous: PlannedWork | None = None
    """The segment this one continues from (`continue_from_previous`), if it does."""
    reason: str | None = None
    """Why a clip stored for this spec is not reused (missing or damaged), when one is."""
    unpriced_model: str | None = None
    """The segment's model when its cost cannot be estimated (see `ModelInfo.unpriced`)."""

    @property
    def waits_for(self) -> PlannedWork | None:
        """The continued segment when its clip is still to be generated: this one waits."""
        return self.previous if self.previous is not None and self.previous.clip is None else None


@dataclass
class Planned:
    project: Project
    segments: list[PlannedWork]
    composition_hash: str
    final: Asset | None
    final_reason: str | None = None
    """Why the final video stored for this timeline is not reused, when one is."""
    damaged: dict[str, str] | None = None
    """Why each stored clip found bad is, by asset id: a render marks them
    (`integrity.mark_damaged`) so its workers generate them rather than take them."""

    def work(self) -> list[quotas.Work]:
        """The clips this render would generate (each spec once), for the size quota."""
        seen: set[str] = set()
        clips = []
        for p in self.segments:
            if p.clip is None and p.spec_hash not in seen:
                seen.add(p.spec_hash)
                project = self.project
                clips.append(
                    quotas.Work(p.segment.duration, project.width, project.height, project.fps)
                )
        return clips


async def plan_project(
    session: AsyncSession, runtime: HasRegistry, owner_id: str, project_id: str
) -> Planned:
    project = await get_project(session, owner_id, project_id)
    segments = await segments_of(session, project.id)
    if not segments:
        raise InvalidInput(f"project {project.id} has no segments to render", "segments")
    specs: list[tuple[Segment, dict[str, Any], str, Decimal]] = []
    unpriced: dict[str, str] = {}
    previous_hash: str | None = None
    for segment in segments:
        adapter, model = runtime.registry.resolve(segment.model)
        continuity.check_inputs(
            model,
            has_image=segment.init_image_asset_id is not None,
            continues=segment.continue_from_previous,
            is_first=not specs,
            where=f"segment {segment.position + 1}: ",
        )
        reason = adapter.availability()
        if reason:
            raise InvalidInput(
                f"segment {segment.position + 1} uses {segment.model}, which is unavailable: "
                f"{reason}",
                "model",
            )
        spec = await clip_spec_of(session, project, segment, previous_hash)
        digest = previous_hash = hashing.spec_hash(spec)
        segment.spec_hash = digest
        cost = Decimal(str(adapter.estimate_cost(model, segment.duration, segment.params)))
        specs.append((segment, spec, digest, cost))
        if model.unpriced:
            unpriced[digest] = model.id
    # One query for every clip already made, not one per segment.
    made = await assets.by_keys(session, [keys.clip(owner_id, digest) for _, _, digest, _ in specs])
    # A clip that is missing or damaged is generated again (services/integrity.py says how
    # much is checked here and what composition checks).
    found = list(made.values())
    checked = zip(found, await integrity.problems(runtime.storage, found), strict=True)
    bad = {clip.storage_key: (clip.id, why) for clip, why in checked if why}
    planned: list[PlannedWork] = []
    for segment, spec, digest, cost in specs:
        key = keys.clip(owner_id, digest)
        clip = None if key in bad else made.get(key)
        work = PlannedWork(segment, spec, digest, clip, Decimal(0) if clip else cost)
        work.reason = bad[key][1] if key in bad else None
        work.unpriced_model = None if clip else unpriced.get(digest)
        if segment.continue_from_previous and planned:
            work.previous = planned[-1]
        planned.append(work)
    comp_hash = hashing.composition_hash(
        [p.spec_hash for p in planned], composition_settings(project, segments)
    )
    final = await assets.by_key(session, keys.final(owner_id, comp_hash))
    final_reason = None
    if final is not None:
        final_reason = await integrity.problem(runtime.storage, final, full=True)
        if final_reason:
            final = None  # composed again
    damaged = dict(bad.values())
    return Planned(project, planned, comp_hash, final, final_reason, damaged)


async def plan(
    session: AsyncSession, runtime: HasRegistry, owner_id: str, project_id: str
) -> RenderPlan:
    """What a render would do and cost, without doing it."""
    planned = await plan_project(session, runtime, owner_id, project_id)
    quotas.check_render_size(planned.work(), runtime.settings)
    generate_once: set[str] = set()
    items = []
    for p in planned.segments:
        reuse = p.clip is not None or p.spec_hash in generate_once
        generate_once.add(p.spec_hash)
        items.append(
            PlannedSegment(
                segment_id=p.segment.id,
                position=p.segment.position,
                model=p.segment.model,
                action="reuse" if reuse else "generate",
                reason=None if reuse else p.reason,
                estimated_cost=0.0 if reuse else float(p.cost),
                continues_from=p.previous.segment.id if p.previous else None,
                waits_for=p.waits_for.segment.id if p.waits_for and not reuse else None,
                trim_start=p.segment.trim_start,
                trim_end=p.segment.trim_end,
                duration=trims.trimmed_length(
                    p.segment.duration, p.segment.trim_start, p.segment.trim_end
                ),
            )
        )
    return RenderPlan(
        segments=items,
        total_estimated_cost=round(sum(i.estimated_cost for i in items), 4),
        compose=planned.final is None,
        compose_reason=planned.final_reason,
        total_duration=round(sum(i.duration or 0.0 for i in items), 3),
    )


async def reserve_budget(
    session: AsyncSession, owner_id: str, estimate: Decimal, unpriced_model: str | None = None
) -> None:
    """Count `estimate` against the owner's cap, or raise `BudgetExceeded`.

    A model whose price is unknown (`unpriced_model`) is refused to any account with a cap:
    its estimate of $0 would otherwise let it spend the operator's credit unchecked.
    """
    if unpriced_model is not None:
        user = await session.get_one(User, owner_id)
        if user.budget_usd is not None:
            raise BudgetExceeded(
                f"{unpriced_model} has no known price, so it cannot be counted against your "
                f"${user.budget_usd:.2f} budget; use a model from the catalogue, or ask an "
                "operator to lift your cap"
            )
    if estimate <= 0:
        return
    # One conditional UPDATE: two racing renders cannot both pass the check.
    result = await session.execute(
        update(User)
        .where(
            User.id == owner_id,
            (User.budget_usd.is_(None)) | (User.spent_usd + estimate <= User.budget_usd),
        )
        .values(spent_usd=User.spent_usd + estimate)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        user = await session.get_one(User, owner_id)
        left = (user.budget_usd or Decimal(0)) - user.spent_usd
        raise BudgetExceeded(
            f"this render is estimated at ${estimate:.2f} but only ${left:.2f} of your "
            f"${user.budget_usd:.2f} budget is left; raise the budget or render fewer segments"
        )


async def refund_unspent(session: AsyncSession, owner_id: str, unspent: Decimal) -> None:
    """Return reserved budget that was never spent."""
    if unspent > 0:
        await session.execute(
            update(User).where(User.id == owner_id).values(spent_usd=User.spent_usd - unspent)
        )
