"""Open a film or a still image as a VapourSynth clip: BestSource when installed, PyAV otherwise.

BestSource keeps its index files in the user cache (``cache.subdir("bsindex")``), never next to the
user's media. Still images (PNG, JPEG, TIFF, BMP, WebP) always open through PyAV as one frame.
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
from .pyav_source import SourceError, pyav_source

log = logging.getLogger(__name__)

SourceKind = Literal["auto", "bestsource", "pyav"]
SOURCES: tuple[str, ...] = ("auto", "bestsource", "pyav")
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})

__all__ = ["IMAGE_EXTENSIONS", "SOURCES", "MediaInfo", "SourceError", "is_image", "open_source", "probe"]


@dataclass(frozen=True, kw_only=True)
class MediaInfo:
    """What a demux-only look at a file found."""

    path: Path
    audio_streams: int
    container: str


def is_image(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a still image by its extension."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def probe(path: str | os.PathLike[str], *, func: str = "probe") -> MediaInfo:
    """Check that ``path`` exists and holds a video stream; raise FileNotFoundError or SourceError.

    ``func`` names the caller in error messages.
    """
    p = Path(path)
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
        return MediaInfo(path=p, audio_streams=len(container.streams.audio), container=container.format.name)


def _bestsource(path: str, core: vs.Core) -> vs.VideoNode:
    try:
        return core.bs.VideoSource(source=path, cachepath=os.fspath(cache.subdir("bsindex")), showprogress=0)
    except vs.Error as exc:
        raise SourceError(f"open_source: BestSource cannot open {path!r}: {exc}") from exc


def open_source(
    path: str | os.PathLike[str], *, source: SourceKind = "auto", core: vs.Core | None = None
) -> vs.VideoNode:
    """Open the first video stream of ``path`` as a clip.

    ``source``: ``"auto"`` (default) uses BestSource (``core.bs``) when installed and PyAV otherwise;
    ``"bestsource"`` or ``"pyav"`` force one. Still images always use PyAV (a one-frame clip).
    Raises FileNotFoundError for a missing file, :class:`SourceError` for a file without decodable
    video, ValueError for a bad ``source``.
    """
    if source not in SOURCES:
        raise ValueError(f"open_source: source must be one of {SOURCES}, got {source!r}")
    core = core or vs.core
    info = probe(path, func="open_source")
    spath = os.fspath(Path(path).resolve())
    use_bs = source == "bestsource" or (source == "auto" and hasattr(core, "bs") and not is_image(path))
    if use_bs:
        if not hasattr(core, "bs"):
            raise SourceError("open_source: source='bestsource' but the BestSource plugin is not installed")
        clip = _bestsource(spath, core)
    else:
        clip = pyav_source(spath, core=core)
    log.debug("open_source: %s via %s (%s)", spath, "bestsource" if use_bs else "pyav", info.container)
    return clip
