"""Open a film or a still image as a VapourSynth clip: BestSource when installed, PyAV otherwise.

BestSource keeps its index files in the user cache (``cache.subdir("bsindex")``), never next to the
user's media. Still images (PNG, JPEG, TIFF, BMP, WebP, DPX, EXR), multi-page TIFFs and image
sequences (``%d`` pattern, glob or folder) always open through :mod:`.still` (one frame per picture,
range and sample type said).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
import vapoursynth as vs

from ..core import cache
from .integrity import find_damage
from .pyav_source import SourceError, pyav_source
from .still import IMAGE_EXTENSIONS, is_sequence, still_pages, still_source
from .timecode import stamp_timecode

log = logging.getLogger(__name__)

SourceKind = Literal["auto", "bestsource", "pyav"]
SOURCES: tuple[str, ...] = ("auto", "bestsource", "pyav")

__all__ = [
    "IMAGE_EXTENSIONS",
    "SOURCES",
    "MediaInfo",
    "SourceError",
    "input_files",
    "is_image",
    "open_source",
    "probe",
    "warn_about",
]


@dataclass(frozen=True, kw_only=True)
class MediaInfo:
    """What a demux-only look at a file found."""

    path: Path
    audio_streams: int
    container: str
    alpha: bool = False  # the video stream's pixel format carries alpha
    transfer: int = 2  # H.273 transfer characteristics of the video stream (16 PQ, 18 HLG)
    timecode: str | None = None  # SMPTE timecode of the first frame (tmcd track, stream or file tag)
    reel: str | None = None  # reel/tape name where the container holds one


def container_timecode(container: av.container.InputContainer) -> tuple[str | None, str | None]:
    """The first frame's timecode and the reel name a film's streams or container state (None when
    absent): MOV/MP4 tmcd tracks, Matroska stream tags, any other stream or file ``timecode`` tag."""
    found: dict[str, str] = {}
    sources = [s.metadata for s in container.streams] + [container.metadata]
    for meta in sources:
        for key, value in meta.items():
            low = key.lower()
            if low in ("timecode", "reel_name") and low not in found and value:
                found[low] = value
    return found.get("timecode"), found.get("reel_name")


def is_image(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a still image or a sequence (by its extension, or a folder)."""
    p = Path(path)
    return p.suffix.lower() in IMAGE_EXTENSIONS or p.is_dir()


def probe(path: str | os.PathLike[str], *, func: str = "probe") -> MediaInfo:
    """Check that ``path`` exists and holds a video stream; raise FileNotFoundError or SourceError.

    Still images and ``%d`` sequences (:func:`is_image`) are checked for their files only.
    ``func`` names the caller in error messages.
    """
    p = Path(path)
    if is_image(p) and is_sequence(p):
        still_pages(p, allow_damaged=True)
        return MediaInfo(path=p, audio_streams=0, container="image2")
    if not p.exists():
        raise FileNotFoundError(f"{func}: input {os.fspath(p)!r} does not exist")
    if p.is_dir():
        raise SourceError(f"{func}: input {os.fspath(p)!r} is a directory, not a media file")
    try:
        container = av.open(os.fspath(p))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{func}: cannot read {os.fspath(p)!r} as media: {exc}") from exc
    with container:
        if not container.streams.video:
            raise SourceError(f"{func}: {os.fspath(p)!r} has no video stream")
        video = container.streams.video[0]
        fmt = video.codec_context.format
        timecode, reel = container_timecode(container)
        return MediaInfo(
            timecode=timecode,
            reel=reel,
            path=p,
            audio_streams=len(container.streams.audio),
            container=container.format.name,
            alpha=fmt is not None and any(c.is_alpha for c in fmt.components),
            transfer=int(video.codec_context.color_trc or 2),
        )


def _bestsource(path: str, core: vs.Core) -> vs.VideoNode:
    try:
        return core.bs.VideoSource(source=path, cachepath=os.fspath(cache.subdir("bsindex")), showprogress=0)
    except vs.Error as exc:
        raise SourceError(f"open_source: BestSource cannot open {path!r}: {exc}") from exc


def input_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files an input reads: a ``%d`` sequence's files, else the path itself."""
    p = Path(path)
    if is_image(p) and is_sequence(p):
        return [page.path for page in still_pages(p, allow_damaged=True)[0]]
    return [p]


#: H.273 transfer characteristics of HDR signals.
HDR_TRANSFERS: dict[int, str] = {16: "PQ (SMPTE ST 2084)", 18: "HLG (ARIB STD-B67)"}


def warn_about(clip: vs.VideoNode, info: MediaInfo) -> None:
    """Log a warning for what colorizing loses or gets wrong: alpha, HDR transfer, interlacing."""
    props = clip.get_frame(0).props
    name = os.fspath(info.path)
    if info.alpha:
        log.warning("%s has an alpha channel; it is dropped (the output is opaque)", name)
    transfer = int(props.get("_Transfer", info.transfer))
    if transfer in HDR_TRANSFERS:
        log.warning(
            "%s is HDR (%s): the models are trained on SDR pictures, so colours will be off; "
            "tone-map to SDR first (e.g. vs-placebo's Tonemap or zimg in VapourSynth)",
            name,
            HDR_TRANSFERS[transfer],
        )
    field = int(props.get("_FieldBased", 0))
    if field in (1, 2):
        log.warning(
            "%s is interlaced (%s field first): frames are colorized whole and the output keeps the "
            "field order; for clean colour on motion deinterlace first (e.g. havsfunc.QTGMC or core.bwdif)",
            name,
            "top" if field == 2 else "bottom",
        )


def open_source(
    path: str | os.PathLike[str],
    *,
    source: SourceKind = "auto",
    core: vs.Core | None = None,
    allow_damaged: bool = False,
    check_damage: bool = True,
) -> vs.VideoNode:
    """Open the first video stream of ``path`` as a clip.

    ``source``: ``"auto"`` (default) uses BestSource (``core.bs``) when installed and PyAV otherwise;
    ``"bestsource"`` or ``"pyav"`` force one. Still images, multi-page TIFFs and image sequences
    (``%d`` pattern, glob or folder) always use :func:`.still.still_source` (one frame per picture).
    A film's timecode and reel name (:func:`container_timecode`) become every frame's ``Timecode``
    (counted on from the first) and ``Reel`` props; a DPX sequence's frames carry their headers' own.
    A film is checked against what its container promises (:mod:`.integrity`): a damaged one raises
    :class:`SourceError` naming the missing ranges, unless ``allow_damaged``, which logs them and
    returns the frames that decode (the PyAV reader then decodes the whole file first).
    ``check_damage=False`` skips that check (it reads every packet of the film) for a caller that has
    already made it on this file: a farm chunk, whose plan refused a damaged source.
    Warnings are logged for alpha (dropped), HDR transfer and interlacing (:func:`warn_about`).
    Raises FileNotFoundError for a missing file, :class:`SourceError` for a file without decodable
    video, ValueError for a bad ``source``.
    """
    if source not in SOURCES:
        raise ValueError(f"open_source: source must be one of {SOURCES}, got {source!r}")
    core = core or vs.core
    if is_image(path):  # whatever ``source`` says: neither film reader knows pages, sequences or float
        return still_source(path, core=core, allow_damaged=allow_damaged)
    info = probe(path, func="open_source")
    spath = os.fspath(Path(path).resolve())
    use_bs = source == "bestsource" or (source == "auto" and hasattr(core, "bs"))
    if use_bs:
        if not hasattr(core, "bs"):
            raise SourceError("open_source: source='bestsource' but the BestSource plugin is not installed")
        clip = _bestsource(spath, core)
    else:
        clip = pyav_source(spath, core=core, decodable_only=allow_damaged)
    reader = "bestsource" if use_bs else "pyav"
    log.debug("open_source: %s via %s (%s)", spath, reader, info.container)
    try:
        damage = find_damage(spath, clip, reader=reader) if check_damage else None
    except (av.FFmpegError, OSError, vs.Error) as exc:
        raise SourceError(f"open_source: cannot check {spath!r} for damage: {exc}") from exc
    if damage is not None:
        if not allow_damaged:
            raise SourceError(
                f"open_source: {spath!r} is damaged: {damage.describe()} "
                f"({clip.num_frames} frames decode; pass --allow-damaged / allow_damaged=True to render them)"
            )
        log.warning(
            "%s is damaged: %s; rendering the %d frames that decode",
            spath,
            damage.describe(),
            clip.num_frames,
        )
    warn_about(clip, info)
    if info.timecode is not None:
        clip = stamp_timecode(clip, info.timecode, info.reel, func="open_source")
    return clip
