"""The progressive preview: an HLS media playlist of a project's timeline, built from the
segments' own clips as soon as each exists, before (and without) composition.

Each segment is one HLS segment: its clip, cut to its trim and remuxed to MPEG-TS (the H.264
and AAC are copied; only the GOPs a trim point falls in are re-encoded, by the composition
engine). The pieces are stored content-addressed next to the clips, made on the first playlist
request that needs them, and linked with the same signed URLs as every other file, so a player
needs no Authorization header for them.

The playlist lists the timeline in order up to the first segment whose clip does not exist
yet, and stops there: an EVENT playlist, which only ever grows by appending while a render
runs, and ends with #EXT-X-ENDLIST once every segment has a clip. Clips come from different
files, so a #EXT-X-DISCONTINUITY separates them. Transitions are shown as cuts and burned
captions are not drawn: the preview's length is the sum of the trimmed segment lengths (the
project's `total_duration`), while the final video is shorter by its transitions' overlaps.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
from sqlalchemy.ext.asyncio import AsyncSession

from videofoundry import media
from videofoundry.models import Asset, Project, Segment
from videofoundry.runtime import Runtime
from videofoundry.services import assets, trims
from videofoundry.services.projects import get_project, segments_of
from videofoundry.storage import keys

CONTENT_TYPE = "application/vnd.apple.mpegurl"
SEGMENT_TYPE = "video/mp2t"
PIECE_KIND = "preview"
PIECES_AT_ONCE = 4
"""Pieces one playlist request makes in parallel (remuxes are quick; cuts re-encode a GOP)."""


@dataclass(frozen=True)
class Cut:
    """The part of a clip a segment shows, in frames: [first, end), end None for its end."""

    spec_hash: str
    first: int
    end: int | None

    def key(self, owner_id: str) -> str:
        # Derived from the clip's own key, so it holds only an owner id and a hash.
        base = keys.clip(owner_id, self.spec_hash).removesuffix(".mp4")
        return f"{base}-preview-{self.first}-{'end' if self.end is None else self.end}.ts"


def cut_of(project: Project, segment: Segment) -> Cut:
    fps = project.fps
    first = round(segment.trim_start * fps) if segment.trim_start else 0
    end = None if segment.trim_end is None else round(segment.trim_end * fps)
    return Cut(segment.spec_hash, first, end)


@dataclass(frozen=True)
class Entry:
    piece: Asset
    duration: float


async def playlist(
    session: AsyncSession, runtime: Runtime, owner_id: str, project_id: str, base_url: str
) -> str:
    """The playlist text; 404 (NotFound) for another user's project. Links the API serves are
    made absolute on `base_url` (where the playlist was asked for), so a saved copy of the
    playlist still plays in VLC or ffplay while its links are valid."""
    project = await get_project(session, owner_id, project_id)
    segments = await segments_of(session, project.id)
    cuts = [cut_of(project, s) for s in segments]
    wanted = [keys.clip(owner_id, c.spec_hash) for c in cuts] + [c.key(owner_id) for c in cuts]
    found = await assets.by_keys(session, wanted)
    shown: list[tuple[Cut, Asset]] = []
    for cut in cuts:
        clip = found.get(keys.clip(owner_id, cut.spec_hash))
        if clip is None:
            break  # the playlist stops at the first segment still to be generated
        shown.append((cut, clip))
    # Pieces not made yet, each once (a timeline may show the same clip twice), a few at a time.
    missing = {c.key(owner_id): (c, clip) for c, clip in shown if c.key(owner_id) not in found}
    limit = asyncio.Semaphore(PIECES_AT_ONCE)

    async def make(cut: Cut, clip: Asset) -> Asset:
        async with limit:
            return await _make_piece(runtime, owner_id, clip, cut)

    made = await asyncio.gather(*(make(c, clip) for c, clip in missing.values()))
    pieces = {**found, **dict(zip(missing, made, strict=True))}
    entries = [
        Entry(p, float(p.duration or 0.0)) for p in (pieces[c.key(owner_id)] for c, _ in shown)
    ]
    planned = [trims.trimmed_length(s.duration, s.trim_start, s.trim_end) for s in segments]
    # An empty timeline is not finished: it has nothing to play yet.
    complete = bool(segments) and len(entries) == len(segments)
    return await _render(runtime, entries, planned, complete, base_url.rstrip("/"))


async def _render(
    runtime: Runtime, entries: list[Entry], planned: list[float], complete: bool, base: str
) -> str:
    # The target duration may not change while the playlist grows: it covers every segment
    # the timeline has, made or not.
    longest = max([*planned, *(e.duration for e in entries), 1.0])
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{math.ceil(round(longest, 3))}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:EVENT",
    ]
    for index, entry in enumerate(entries):
        if index:
            lines.append("#EXT-X-DISCONTINUITY")  # another clip: new timestamps, new encoder
        url = str(await assets.url_for(runtime.settings, runtime.storage, entry.piece))
        if url.startswith("/"):  # a signed link of this API, not a presigned storage URL
            url = base + url
        lines += [f"#EXTINF:{entry.duration:.3f},", url]
    if complete:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


async def _make_piece(runtime: Runtime, owner_id: str, clip: Asset, cut: Cut) -> Asset:
    """Cut and remux the clip, store the piece and record it (idempotent: racing requests
    store the same bytes under the same key and share one row)."""
    workdir = Path(tempfile.mkdtemp(prefix="vf-preview-"))
    try:
        source, piece = workdir / "clip.mp4", workdir / "piece.ts"
        await runtime.storage.get_file(clip.storage_key, source)
        duration = await asyncio.to_thread(_cut_to_ts, source, piece, cut)
        stored = await runtime.storage.put_file(cut.key(owner_id), piece, SEGMENT_TYPE)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    row = assets.fields(owner_id, PIECE_KIND, stored, SEGMENT_TYPE, duration=duration)
    # A session of its own: the request's may be a read-only snapshot.
    async with runtime.sessions() as session, session.begin():
        ids = await assets.record_all(session, [row])
    return Asset(**{**row, "id": ids[stored.key]})


def _cut_to_ts(source: Path, dst: Path, cut: Cut) -> float:
    """Write the clip's frames [cut.first, cut.end) as MPEG-TS; returns their duration."""
    info = media.probe(source)
    fps = round(info.fps)
    last = info.frame_count if cut.end is None else min(info.frame_count, cut.end)
    if cut.first == 0 and last == info.frame_count:
        _remux(source, dst)
    else:
        trimmed = dst.with_suffix(".mp4")
        spec = media.ClipSpec(
            source, trim_start=cut.first / fps, trim_end=last / fps, label="preview"
        )
        media.compose_sync([spec], trimmed, media.ComposeOptions(captions_track=False))
        _remux(trimmed, dst)
    return (last - cut.first) / fps


def _remux(source: Path, dst: Path) -> None:
    """Copy the first video and audio streams into an MPEG-TS file (the muxer turns the H.264
    into Annex B and the AAC into ADTS by itself)."""
    with av.open(str(source)) as src, av.open(str(dst), "w", format="mpegts") as out:
        chosen = [*src.streams.video[:1], *src.streams.audio[:1]]
        outputs = {s.index: out.add_stream_from_template(s) for s in chosen}
        for packet in src.demux(chosen):
            if packet.dts is None:  # the demuxer's empty flush packets
                continue
            packet.stream = outputs[packet.stream.index]
            out.mux(packet)
