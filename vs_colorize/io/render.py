"""Write a finished clip to its output path safely: checks first, temporary names, rename on success.

Every file is written under a temporary name beside its final one (``cache.atomic_output``: hidden,
``.part`` plus the real extension) and renamed only when complete, so an interrupted or failed render
never leaves a partial file under the final name, and its temporary file is removed on the way out.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import vapoursynth as vs

from .. import cache
from .encode import EncoderKind, EncodeSettings, check_codec, container_of, encode_pyav, pick_encoder
from .ffmpeg import encode_ffmpeg
from .image import IMAGE_OUTPUTS, encode_image, image_names, is_image_output, to_image_clip

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class OutputPlan:
    """What a render will write: the files, and how."""

    path: Path
    files: tuple[Path, ...]
    image: bool
    encoder: str  # "pyav", "ffmpeg" or the image codec ("png", "tiff")


def plan_output(
    path: str | os.PathLike[str],
    *,
    frames: int,
    first: int = 0,
    encoder: EncoderKind = "auto",
    overwrite: bool = False,
) -> OutputPlan:
    """Check an output path before any work is done.

    ``frames``/``first``: how many frames will be written and the source number of the first (image
    sequences are numbered by source frame, so chunks of one film fit together). Raises ValueError for
    an unsupported extension, a bad pattern or encoder, FileNotFoundError when the directory is missing,
    FileExistsError when a target exists and ``overwrite`` is False.
    """
    p = Path(path)
    if not p.parent.is_dir():
        raise FileNotFoundError(f"output directory {os.fspath(p.parent)!r} does not exist")
    if is_image_output(p):
        files = tuple(image_names(p, first, frames))
        kind = IMAGE_OUTPUTS[p.suffix.lower()]
        image = True
    else:
        container_of(p)
        files, kind, image = (p,), pick_encoder(encoder), False
    if not overwrite:
        existing = [f for f in files if f.exists()]
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise FileExistsError(
                f"output {os.fspath(existing[0])!r}{more} exists; pass --overwrite to replace it"
            )
    return OutputPlan(path=p, files=files, image=image, encoder=kind)


def prepare_clip(clip: vs.VideoNode, plan: OutputPlan, settings: EncodeSettings) -> vs.VideoNode:
    """The clip in a format the output takes, checked against the codec before rendering starts.

    Images: RGB (GRAY stays GRAY). Video: RGB clips become YUV 4:4:4 BT.709 (x264/ffv1 take no 8-bit
    planar RGB); then the codec must accept the format and fit the container (ValueError otherwise).
    """
    if plan.image:
        return to_image_clip(clip)
    if clip.format.color_family == vs.RGB:
        fmt = vs.core.query_video_format(vs.YUV, clip.format.sample_type, clip.format.bits_per_sample, 0, 0)
        clip = vs.core.resize.Bicubic(clip, format=fmt.id, matrix=vs.MATRIX_BT709)
    if clip.format.sample_type == vs.FLOAT:
        fmt = clip.format.replace(sample_type=vs.INTEGER, bits_per_sample=16)
        clip = vs.core.resize.Point(clip, format=fmt.id)
    check_codec(settings, clip.format, container_of(plan.path))
    return clip


def _usual_mode(path: Path) -> None:
    """Give a finished temporary file the mode a plain ``open()`` would (mkstemp makes it 0600)."""
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def write_output(
    clip: vs.VideoNode,
    plan: OutputPlan,
    settings: EncodeSettings,
    *,
    overwrite: bool = False,
    audio_from: str | os.PathLike[str] | None = None,
    audio_window: tuple[Fraction, Fraction | None] = (Fraction(0), None),
    progress: Callable[[int], None] | None = None,
) -> int:
    """Render ``clip`` (from :func:`prepare_clip`) into ``plan``'s files; return the frames written."""
    if plan.image:
        for n, frame in enumerate(clip.frames(close=True)):
            data = encode_image(frame, plan.encoder)
            with cache.atomic_output(plan.files[n], overwrite=overwrite) as tmp:
                tmp.write_bytes(data)
                _usual_mode(tmp)
            if progress is not None:
                progress(n + 1)
        return len(plan.files)
    kwargs = {"audio_from": audio_from, "audio_window": audio_window, "progress": progress}
    with cache.atomic_output(plan.path, overwrite=overwrite) as tmp:
        if plan.encoder == "ffmpeg":
            written = encode_ffmpeg(clip, tmp, settings, **kwargs)  # type: ignore[arg-type]
        else:
            written = encode_pyav(clip, tmp, settings, **kwargs)  # type: ignore[arg-type]
        _usual_mode(tmp)
    log.debug("render: %d frames into %s", written, plan.path)
    return written
