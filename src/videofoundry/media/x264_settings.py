"""Encode new frames that join someone else's x264 stream by copy.

x264 writes its full configuration as text into an SEI message of the first picture
("x264 - core 164 ... options: cabac=1 ref=3 ..."). Handing those options back to libx264
reproduces the stream's SPS/PPS, so a re-encoded piece (a transition, a burned caption) can sit
between packets copied from the clip. Reproduction is checked, never assumed: `reproduce`
encodes one frame with the recovered settings and compares the parameter sets byte for byte.
When it cannot work (no SEI, another encoder, interlacing, custom matrices, a mismatch) the
reason is returned so the caller can normalise instead and say why.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av

from videofoundry.media.format import OutputFormat

SEI_MARK = b"x264 - core "


@dataclass(frozen=True)
class EncoderSettings:
    """libx264 settings recovered from a stream, ready to give to an encoder."""

    x264_params: str
    """The `x264-params` option: every setting that shapes the parameter sets or the quality."""
    profile: str = ""
    """From the stream's SPS; empty lets x264 choose (it picks the same from the same options)."""
    fast_params: str = ""
    """A cheaper search with the same parameter sets, for short re-encoded pieces (checked by
    `reproduce`; empty when it does not give the same headers)."""
    color_primaries: int = 2
    color_trc: int = 2
    colorspace: int = 2
    color_range: int = 0
    """VUI colour description as libavcodec enums (2 / 0: unspecified)."""
    sample_aspect_ratio: Fraction | None = None
    source: str = ""
    """Which clip the settings come from, for messages."""


def read_x264_options(path: Path) -> dict[str, str] | None:
    """The options x264 recorded in the first video packets, or None when there are none."""
    with av.open(str(path), "r") as container:
        vs = container.streams.video[0]
        for i, packet in enumerate(container.demux(vs)):
            data = bytes(packet)
            at = data.find(SEI_MARK)
            if at >= 0:
                end = data.find(b"\x00", at)
                text = data[at : end if end >= 0 else len(data)].decode("latin-1")
                return parse_options(text)
            if i >= 3:
                return None
    return None


def parse_options(sei_text: str) -> dict[str, str]:
    _, _, options = sei_text.partition("options: ")
    pairs = (item.partition("=") for item in options.split())
    return {key: value for key, _, value in pairs if key}


# SEI name -> x264 parameter name, for options that carry over as they are.
_SAME = {
    "cabac": "cabac",
    "ref": "ref",
    "me": "me",
    "subme": "subme",
    "psy": "psy",
    "mixed_ref": "mixed-refs",
    "me_range": "merange",
    "chroma_me": "chroma-me",
    "trellis": "trellis",
    "8x8dct": "8x8dct",
    "fast_pskip": "fast-pskip",
    "nr": "nr",
    "decimate": "dct-decimate",
    "constrained_intra": "constrained-intra",
    "bluray_compat": "bluray-compat",
    "bframes": "bframes",
    "b_pyramid": "b-pyramid",
    "b_adapt": "b-adapt",
    "b_bias": "b-bias",
    "weightb": "weightb",
    "open_gop": "open-gop",
    "weightp": "weightp",
    "keyint_min": "min-keyint",
    "scenecut": "scenecut",
    "rc_lookahead": "rc-lookahead",
    "mbtree": "mbtree",
    "qcomp": "qcomp",
    "qpmin": "qpmin",
    "qpmax": "qpmax",
    "qpstep": "qpstep",
    "ip_ratio": "ipratio",
    "pb_ratio": "pbratio",
    "cplxblur": "cplxblur",
    "qblur": "qblur",
    "ratetol": "ratetol",
    "vbv_maxrate": "vbv-maxrate",
    "vbv_bufsize": "vbv-bufsize",
    "crf_max": "crf-max",
    "nal_hrd": "nal-hrd",
    "stitchable": "stitchable",
}
_PROFILES = {66: "baseline", 77: "main", 100: "high"}
_DIRECT = {"0": "none", "1": "spatial", "2": "temporal", "3": "auto"}
_NAL_HRD = {"0": "none", "1": "vbr", "2": "cbr"}
# Inter partition bits of "analyse=0xINTRA:0xINTER".
_PARTITIONS = ((0x10, "p8x8"), (0x20, "p4x4"), (0x100, "b8x8"), (0x1, "i4x4"), (0x2, "i8x8"))


def _psy_offset(value: float, scale: float) -> int:
    """How much x264 lowered the chroma QP offset for one psy setting (see its encoder.c)."""
    if round(value * scale * 256) == 0:
        return 0
    return 1 if value < 0.25 else 2


def x264_params_from(options: dict[str, str]) -> str:
    """The `x264-params` that reproduce a stream's configuration; ValueError says why not."""
    if not options:
        raise ValueError("no x264 settings recorded in the stream")
    for key, bad in (("interlaced", "0"), ("cqm", "0"), ("intra_refresh", "0")):
        value = options.get(key, "0")
        if value != bad:
            raise ValueError(f"x264 option {key}={value} is not reproduced")
    if options.get("fake_interlaced", "0") != "0":
        raise ValueError("x264 option fake_interlaced is not reproduced")
    params: list[str] = []
    for key, value in options.items():
        name = _SAME.get(key)
        if name == "nal-hrd":
            value = _NAL_HRD.get(value, value)
        if name is not None:
            params.append(f"{name}={value}")
    if "direct" in options:
        params.append(f"direct={_DIRECT.get(options['direct'], options['direct'])}")
    if "keyint" in options:
        params.append(f"keyint={options['keyint']}")
    deblock = options.get("deblock", "1:0:0").split(":")
    if deblock[0] == "0":
        params.append("no-deblock=1")
    elif len(deblock) == 3:
        params.append(f"deblock={deblock[1]},{deblock[2]}")
    if "deadzone" in options:
        inter, _, intra = options["deadzone"].partition(",")
        params += [f"deadzone-inter={inter}", f"deadzone-intra={intra or inter}"]
    if "aq" in options:
        mode, _, strength = options["aq"].partition(":")
        params.append(f"aq-mode={mode}")
        if strength:
            params.append(f"aq-strength={strength}")
    if "analyse" in options:
        _, _, inter = options["analyse"].partition(":")
        bits = int(inter or "0", 16)
        parts = [name for bit, name in _PARTITIONS if bits & bit]
        params.append(f"partitions={','.join(parts) or 'none'}")
    psy_rd, psy_trellis = 0.0, 0.0
    if options.get("psy", "0") == "1" and "psy_rd" in options:
        rd, _, trellis = options["psy_rd"].partition(":")
        psy_rd, psy_trellis = float(rd), float(trellis or 0)
        params.append(f"psy-rd={rd},{trellis or 0}")
        # x264 applies psy-rd only from subme 6, and psy-trellis at a quarter of its value.
        psy_rd = psy_rd if int(options.get("subme", "7")) >= 6 else 0.0
    if "chroma_qp_offset" in options:
        # The SEI shows the offset after x264 lowered it for psy-rd and psy-trellis; give back
        # the user's value, or x264 would lower it a second time.
        final = int(options["chroma_qp_offset"])
        lowered = _psy_offset(psy_rd, 1.0) + _psy_offset(psy_trellis, 0.25)
        params.append(f"chroma-qp-offset={final + lowered}")
    rc = options.get("rc", "crf")
    if rc == "crf" and "crf" in options:
        params.append(f"crf={options['crf']}")
    elif rc == "cqp" and "qp" in options:
        params.append(f"qp={options['qp']}")
    elif rc in ("abr", "cbr") and "bitrate" in options:
        params.append(f"bitrate={options['bitrate']}")
    else:
        raise ValueError(f"x264 rate control {rc!r} without its value is not reproduced")
    # Slices change every picture's slice layout but not the headers; keep them so pieces look
    # like their neighbours to a decoder.
    if options.get("sliced_threads") == "1" and "slices" in options:
        params.append(f"slices={options['slices']}")
    elif options.get("slices", "0") not in ("0", "1"):
        params.append(f"slices={options['slices']}")
    return ":".join(params)


FAST_SEARCH = {"me": "dia", "subme": "1", "mixed_ref": "0", "trellis": "0", "rc_lookahead": "4"}
"""Options that only steer x264's search (about three times faster at 720p): used for pieces a
few frames long, where the search matters little, never for whole clips."""


def fast_options(options: dict[str, str]) -> dict[str, str]:
    faster = dict(options)
    psy_trellis = options.get("psy_rd", "0:0").partition(":")[2] or "0"
    for key, value in FAST_SEARCH.items():
        if key == "trellis" and float(psy_trellis) > 0:
            continue  # without trellis x264 drops psy-trellis, which moves the chroma offset
        if key in faster:
            # Never a slower setting than the source's (its subme may already be 0).
            keep = key in ("subme", "rc_lookahead") and int(faster[key]) < int(value)
            faster[key] = faster[key] if keep else value
    if "analyse" in faster:
        faster["analyse"] = faster["analyse"].partition(":")[0] + ":0x0"
    return faster


def fingerprint_of(container: av.container.InputContainer) -> str:
    return hashlib.sha256(container.streams.video[0].codec_context.extradata or b"").hexdigest()


def settings_of(path: Path, source: str = "") -> EncoderSettings:
    """Recover a clip's x264 settings; ValueError says why they cannot be."""
    try:
        options = read_x264_options(path)
    except av.FFmpegError as exc:
        raise ValueError(f"unreadable ({exc})") from exc
    if options is None:
        raise ValueError("no x264 settings recorded in the stream (another encoder?)")
    params = x264_params_from(options)
    fast = x264_params_from(fast_options(options))
    with av.open(str(path), "r") as container:
        ctx = container.streams.video[0].codec_context
        sar = ctx.sample_aspect_ratio
        avcc = ctx.extradata or b""
    profile = ""
    if len(avcc) > 3 and avcc[0] == 1:
        # avcC: version, profile_idc, constraint flags, level_idc. x264 derives the level
        # from the size and frame rate unless told; the source may have been told.
        profile = _PROFILES.get(avcc[1], "")
        params += f":level={avcc[3]}"
        fast += f":level={avcc[3]}"
    return EncoderSettings(
        x264_params=params,
        profile=profile,
        fast_params=fast,
        color_primaries=int(ctx.color_primaries),
        color_trc=int(ctx.color_trc),
        colorspace=int(ctx.colorspace),
        color_range=int(ctx.color_range),
        sample_aspect_ratio=Fraction(sar) if sar else None,
        source=source or path.name,
    )


@lru_cache(maxsize=32)
def encoded_fingerprint(settings: EncoderSettings, fmt: OutputFormat) -> str:
    """The SPS/PPS fingerprint an encoder with `settings` writes at `fmt` (one frame encoded)."""
    import numpy as np

    from videofoundry.media.encoder import CanonicalWriter

    with tempfile.TemporaryDirectory(prefix="vf-x264-") as tmp:
        path = Path(tmp) / "probe.mp4"
        with CanonicalWriter(
            path, fmt, audio="none", faststart=False, threads=1, settings=settings
        ) as writer:
            writer.write_frame(np.zeros((fmt.height * 3 // 2, fmt.width), dtype=np.uint8))
        with av.open(str(path), "r") as container:
            return fingerprint_of(container)


def reproduce(path: Path, fmt: OutputFormat, fingerprint: str, source: str = "") -> EncoderSettings:
    """Settings that encode frames joining `path` by copy; ValueError with the reason if none."""
    settings = settings_of(path, source)
    try:
        got = encoded_fingerprint(settings, fmt)
    except (av.FFmpegError, ValueError) as exc:
        raise ValueError(f"libx264 refused the recovered settings ({exc})") from exc
    if got != fingerprint:
        raise ValueError(
            "re-encoding with the recorded x264 settings gives different parameter sets "
            "(another x264 build or settings the SEI does not record)"
        )
    if settings.fast_params:
        fast = dataclasses.replace(settings, x264_params=settings.fast_params, fast_params="")
        try:
            same = encoded_fingerprint(fast, fmt) == fingerprint
        except (av.FFmpegError, ValueError):
            same = False
        if not same:
            settings = dataclasses.replace(settings, fast_params="")
    return settings
