"""Write a finished clip to its output path safely: checks first, temporary names, rename on success.

Every file is written under a temporary name beside its final one (``fileio.atomic_output``: hidden,
``.part`` plus the real extension) and renamed only when complete, so an interrupted or failed render
never leaves a partial file under the final name, and its temporary file is removed on the way out.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import vapoursynth as vs

from ..core import fileio
from .encode import (
    LIMITED_RANGE_ONLY,
    EncoderKind,
    EncodeSettings,
    best_pix_fmt,
    check_codec,
    container_of,
    encode_pyav,
    pick_encoder,
)
from .ffmpeg import encode_ffmpeg
from .formats import vs_format_of
from .image import (
    HALF_PROP,
    IMAGE_OUTPUTS,
    encode_image,
    image_depth,
    image_names,
    is_image_output,
    to_image_clip,
    write_tiff_pages,
)
from .outputs import check_outputs

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class OutputPlan:
    """What a render will write: the files, and how."""

    path: Path
    files: tuple[Path, ...]
    existing: tuple[Path, ...]
    image: bool
    encoder: str  # "pyav", "ffmpeg" or the image codec ("png", "tiff")
    multipage: bool = False  # one TIFF holding every frame as a page
    depth: str | None = None  # image depth asked for (None: the clip's own, see image.image_depth)
    muxer: str = ""  # the container, where no file extension names it (a stream to stdout)


def stream_plan(muxer: str) -> OutputPlan:
    """The plan of a render streamed (to stdout) in container ``muxer``: no files, PyAV's encoder."""
    return OutputPlan(path=Path("-"), files=(), existing=(), image=False, encoder="pyav", muxer=muxer)


def plan_output(
    path: str | os.PathLike[str],
    *,
    frames: int,
    first: int = 0,
    numbers: Sequence[int] | None = None,
    encoder: EncoderKind = "auto",
    inputs: Sequence[str | os.PathLike[str]] = (),
    depth: str | None = None,
) -> OutputPlan:
    """Check an output path before any work is done.

    ``frames``/``first``: how many frames will be written and the source number of the first (image
    sequences are numbered by source frame, so chunks of one film fit together); ``numbers``: the
    frames' own numbers instead (a sequence input's file numbers). ``depth``: image depth (see
    :data:`.image.DEPTHS`; ValueError for a video output or a depth the format lacks). ``inputs``: the files
    the render reads, which no output may be (however spelled). Raises ValueError for an unsupported
    extension, a bad pattern or encoder, and :class:`~.outputs.OutputError` (a ValueError) for an output
    that is an input or a directory, or whose folder is missing or not writable (see
    :func:`~.outputs.check_outputs`). Targets that already exist are listed in ``existing``; the caller
    decides (refuse, skip, replace).
    """
    p = Path(path)
    if is_image_output(p):
        files = tuple(image_names(p, first, frames, numbers))
        kind = IMAGE_OUTPUTS[p.suffix.lower()]
        image = True
        if depth is not None:
            image_depth(kind, vs.core.get_video_format(vs.RGB24), depth=depth)
    else:
        if depth is not None:
            raise ValueError(f"encode: depth is for image outputs; {p.name!r} is a video (use pix_fmt)")
        container_of(p)
        files, kind, image = (p,), pick_encoder(encoder), False
    existing = tuple(check_outputs(files, inputs=inputs))
    multipage = image and len(files) == 1 and frames > 1
    return OutputPlan(
        path=p, files=files, existing=existing, image=image, encoder=kind, multipage=multipage, depth=depth
    )


def prepare_clip(clip: vs.VideoNode, plan: OutputPlan, settings: EncodeSettings) -> vs.VideoNode:
    """The clip in a format the output takes, checked against the codec before rendering starts.

    Images: RGB (GRAY stays GRAY). Video: RGB clips become full-range YUV 4:4:4 BT.709 (x264/ffv1 take
    no 8-bit planar RGB; full range keeps every luma level), limited range for ProRes and DNxHR, which
    store no range flag and are read as limited everywhere (full-range YUV is converted for them); then ``settings.pix_fmt`` is applied when
    given, else (float clips first become 16-bit) the accepted format that loses least
    (:func:`.encode.best_pix_fmt`); then the codec must accept the format and fit the container, and
    the ffmpeg path needs a constant frame rate (ValueError otherwise).
    """
    if plan.image:
        half = bool(clip.get_frame(0).props.get(HALF_PROP, 0))
        depth = image_depth(plan.encoder, clip.format, half=half, depth=plan.depth)
        return core_set_half(to_image_clip(clip, depth), depth == "half")
    limited = settings.encoder in LIMITED_RANGE_ONLY
    if clip.format.color_family == vs.RGB:
        fmt = vs.core.query_video_format(vs.YUV, clip.format.sample_type, clip.format.bits_per_sample, 0, 0)
        rng = vs.RANGE_LIMITED if limited else vs.RANGE_FULL
        clip = vs.core.resize.Bicubic(clip, format=fmt.id, matrix=vs.MATRIX_BT709, range=rng)
    elif limited and clip.format.color_family == vs.YUV and clip.get_frame(0).props.get("_Range") == 1:
        clip = vs.core.resize.Bicubic(clip, range=vs.RANGE_LIMITED)  # ProRes/DNxHR say no range: limited
    if settings.pix_fmt is None and clip.format.sample_type == vs.FLOAT:
        clip = vs.core.resize.Point(
            clip, format=clip.format.replace(sample_type=vs.INTEGER, bits_per_sample=16)
        )
    pix_fmt = settings.pix_fmt or best_pix_fmt(settings, clip.format)
    if pix_fmt is not None:
        if settings.pix_fmt is None:
            log.info("encode: %s takes no %s; writing %s", settings.encoder, clip.format.name, pix_fmt)
        held = vs_format_of(pix_fmt)
        assert held is not None  # an accepted pix_fmt VapourSynth can hold (EncodeSettings, best_pix_fmt)
        family, sample_type, bits, ssw, ssh = held
        fmt = vs.core.query_video_format(family, sample_type, bits, ssw, ssh)
        if fmt.id != clip.format.id:  # matrix and range from the frame props
            clip = vs.core.resize.Bicubic(clip, format=fmt.id)
    if settings.encoder == "dnxhd" and (clip.width < 256 or clip.height < 120):
        raise ValueError(f"encode: DNxHR takes pictures of at least 256x120, not {clip.width}x{clip.height}")
    check_codec(settings, clip.format, plan.muxer or container_of(plan.path))
    if plan.encoder == "ffmpeg" and not clip.fps.numerator:
        raise ValueError("encode: --encoder ffmpeg reads y4m, which needs a constant frame rate; use pyav")
    return clip


def core_set_half(clip: vs.VideoNode, half: bool) -> vs.VideoNode:
    """Mark (or unmark) every frame as to be written as half floats (EXR)."""
    return vs.core.std.SetFrameProps(clip, **{HALF_PROP: int(half)})


def pending_frames(plan: OutputPlan, frames: int, *, skip_existing: bool = False) -> list[int]:
    """Indices of the ``frames`` rendered frames still to write: all of them, except for an image
    sequence with ``skip_existing``, where frames whose file exists are left out (a sequence resumes)."""
    if not (skip_existing and plan.image) or plan.multipage:
        return list(range(frames))
    done = set(plan.existing)
    return [i for i, f in enumerate(plan.files) if f not in done]


def _select(clip: vs.VideoNode, indices: list[int]) -> vs.VideoNode:
    """``clip`` restricted to ``indices`` (ascending), spliced from contiguous runs."""
    if indices == list(range(clip.num_frames)):
        return clip
    runs: list[list[int]] = []
    for i in indices:
        if runs and runs[-1][1] == i:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    return vs.core.std.Splice([clip[a:b] for a, b in runs])


def write_output(
    clip: vs.VideoNode,
    plan: OutputPlan,
    settings: EncodeSettings,
    *,
    overwrite: bool = False,
    skip_existing: bool = False,
    audio_from: str | os.PathLike[str] | None = None,
    audio_window: tuple[Fraction, Fraction | None] = (Fraction(0), None),
    progress: Callable[[int], None] | None = None,
) -> int:
    """Render ``clip`` (from :func:`prepare_clip`) into ``plan``'s files; return the frames written.

    ``overwrite`` replaces existing files; ``skip_existing`` leaves the existing files of an image
    sequence alone and renders only the others (see :func:`pending_frames`).
    """
    if plan.multipage:
        with fileio.atomic_output(plan.path, overwrite=overwrite) as tmp:
            return write_tiff_pages(clip.frames(close=True), tmp, progress)
    if plan.image:
        todo = pending_frames(plan, clip.num_frames, skip_existing=skip_existing)
        rate = Fraction(clip.fps) if clip.fps.numerator else None
        fileio.clean_stale_parts(*plan.files)  # once for the sequence, not once per image
        for k, frame in enumerate(_select(clip, todo).frames(close=True)):
            half = bool(frame.props.get(HALF_PROP, 0))
            data = encode_image(frame, plan.encoder, half=half, rate=rate)
            with fileio.atomic_output(plan.files[todo[k]], overwrite=overwrite, clean=False) as tmp:
                tmp.write_bytes(data)
            if progress is not None:
                progress(k + 1)
        return len(todo)
    with fileio.atomic_output(plan.path, overwrite=overwrite) as tmp:
        encode = encode_ffmpeg if plan.encoder == "ffmpeg" else encode_pyav
        written = encode(
            clip, tmp, settings, audio_from=audio_from, audio_window=audio_window, progress=progress
        )
    log.debug("render: %d frames into %s", written, plan.path)
    return written
