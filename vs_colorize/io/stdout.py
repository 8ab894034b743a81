"""A render streamed to standard output (``vs-colorize colorize IN -``), for ``… | ffmpeg -i - …`` chains.

``y4m`` (the default) is what ``vspipe -c y4m`` writes: raw frames with a header that ffmpeg, x264 and
SVT-AV1 read. A streamable container (``matroska``, ``nut``, ``mpegts``) carries the encoded video, colour
tags and the source's audio instead. Nothing else is ever written to stdout; logs and progress go to stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import vapoursynth as vs

from .encode import EncodeSettings, check_codec, encode_pyav

#: ``--format`` values for ``-``: y4m, or a muxer that needs no seeking back (MP4/MOV do; they are refused).
STREAM_FORMATS: tuple[str, ...] = ("y4m", "matroska", "nut", "mpegts")


def y4m_clip(clip: vs.VideoNode) -> vs.VideoNode:
    """``clip`` in a format y4m holds: integer YUV or GRAY; RGB → YUV 4:4:4 BT.709 (limited, y4m's usual
    range; the luma is Y' of the RGB picture), float → 16 bit."""
    core = vs.core
    fmt = clip.format
    if fmt.color_family == vs.RGB:
        bits = 16 if fmt.sample_type == vs.FLOAT else fmt.bits_per_sample
        yuv = core.query_video_format(vs.YUV, vs.INTEGER, bits, 0, 0)
        return core.resize.Bicubic(clip, format=yuv.id, matrix=vs.MATRIX_BT709, range=vs.RANGE_LIMITED)
    if fmt.sample_type == vs.FLOAT:
        return core.resize.Point(clip, format=fmt.replace(sample_type=vs.INTEGER, bits_per_sample=16).id)
    return clip


def write_stdout(
    clip: vs.VideoNode,
    fmt: str,
    settings: EncodeSettings,
    *,
    audio_from: str | Path | None = None,
    audio_window: tuple[Fraction, Fraction | None] = (Fraction(0), None),
    progress: Callable[[int], None] | None = None,
    stream: BinaryIO | None = None,
) -> int:
    """Write ``clip`` to standard output (or ``stream``) as ``fmt``; return the number of frames written.

    Raises ValueError for an unknown ``fmt`` or a codec/container mismatch (before anything is written).
    """
    if fmt not in STREAM_FORMATS:
        raise ValueError(f"write_stdout: fmt must be one of {STREAM_FORMATS}, got {fmt!r}")
    out = stream if stream is not None else sys.stdout.buffer
    if fmt == "y4m":
        clip = y4m_clip(clip)

        def update(done: int, total: int) -> None:
            if progress is not None:
                progress(done)

        clip.output(out, y4m=True, progress_update=update)
        out.flush()
        frames: int = clip.num_frames
        return frames
    check_codec(settings, clip.format, fmt)
    written = encode_pyav(
        clip, out, settings, audio_from=audio_from, audio_window=audio_window, progress=progress, muxer=fmt
    )
    out.flush()
    return written
