"""A project's contact sheet, made once per set of clips and stored, not rebuilt per request.

Clips are content-addressed, so the ordered list of clip keys names the sheet: its ETag, and its
storage key (`keys.contact_sheet`). An edit that changes a clip changes the name; nothing needs
invalidating. Before a stored sheet is served, its clips are checked (size against their
records, and on local storage their SHA-256 too: a read, far cheaper than decoding), so a clip
damaged or deleted since is still reported rather than hidden behind an old picture.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videofoundry import media
from videofoundry.core.errors import Conflict, NotFound
from videofoundry.models import Asset, Project
from videofoundry.services import assets, integrity
from videofoundry.services.projects import segments_of
from videofoundry.storage import keys
from videofoundry.storage.base import Storage


@dataclass
class Sheet:
    """The sheet of a project's current clips: its ETag, where it is stored, its clips."""

    etag: str
    key: str
    clips: list[Asset]


async def sheet_of(session: AsyncSession, owner_id: str, project: Project) -> Sheet:
    """NotFound while no segment has a clip."""
    wanted = [keys.clip(owner_id, s.spec_hash) for s in await segments_of(session, project.id)]
    found = await assets.by_keys(session, wanted)
    clips = [found[key] for key in wanted if key in found]
    if not clips:
        raise NotFound(f"project {project.id} has no generated clips yet; render it first")
    digest = hashlib.sha256("".join(c.storage_key for c in clips).encode()).hexdigest()
    return Sheet(etag=f'"{digest[:32]}"', key=keys.contact_sheet(owner_id, digest), clips=clips)


async def picture(
    sessions: async_sessionmaker[AsyncSession],
    storage: Storage,
    sheet: Sheet,
    owner_id: str,
    project_id: str,
) -> bytes:
    """The JPEG: the stored one when its clips are intact, else made and stored now (with an
    asset row, so deleting the account or the project removes it, written in a transaction of
    its own from `sessions`: the caller's may be a read that must not write).
    Conflict when a clip is missing or unreadable."""
    if not all(await asyncio.gather(*(_intact(storage, clip) for clip in sheet.clips))):
        raise _damaged(project_id)
    workdir = Path(tempfile.mkdtemp(prefix="vf-sheet-"))
    try:
        out = workdir / "sheet.jpg"
        try:
            await storage.get_file(sheet.key, out)
            return out.read_bytes()
        except NotFound:
            pass
        paths = []
        try:
            for index, clip in enumerate(sheet.clips):
                path = workdir / f"{index}.mp4"
                await storage.get_file(clip.storage_key, path)
                paths.append(path)
            await asyncio.to_thread(media.contact_sheet, paths, out)
        except Exception as exc:  # a clip that does not decode: the user's cue to re-render
            raise _damaged(project_id) from exc
        stored = await storage.put_file(sheet.key, out, "image/jpeg")
        async with sessions() as session:
            row = assets.fields(owner_id, "sheet", stored, "image/jpeg")
            await assets.record_all(session, [row])
            await session.commit()
        return out.read_bytes()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _damaged(project_id: str) -> Conflict:
    return Conflict(
        f"a clip of project {project_id} is missing or unreadable; render the project again "
        "to regenerate it"
    )


async def _intact(storage: Storage, clip: Asset) -> bool:
    # Object stores: the size (a HEAD) only; a local file is hashed too (a read, far cheaper
    # than decoding).
    local = storage.path_for(clip.storage_key) is not None
    return await integrity.problem(storage, clip, full=local) is None
