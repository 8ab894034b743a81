"""``vs-colorize superres IN OUT``: microscopy super-resolution from the command line.

TIFF stacks in → a TIFF stack out (same sample type, ``scale``× larger); videos in (anything
``io.open_source`` reads; the luma plane of YUV) → a video out (FFV1 lossless GRAY in Matroska by default,
or x264/x265) through ``io.render``, keeping the frame rate (or per-frame durations) and colour tags.
Mounted by ``vs_colorize.cli`` as a subcommand through :func:`add_arguments` and :func:`run`.

Exit codes: 0 done, 1 the render failed, 2 bad arguments / existing output / unusable model, 3 input missing
or unreadable. Nothing goes to stdout; logs and the progress bar go to stderr.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import vapoursynth as vs

from .core import fileio
from .filters.superres import superres
from .io.encode import EncodeError, EncodeSettings
from .io.render import plan_output, prepare_clip, write_output
from .io.source import SourceError, open_source
from .progress import Progress

log = logging.getLogger("vs_colorize")
core = vs.core

TIFF_SUFFIXES = (".tif", ".tiff")
CODECS = {"ffv1": "ffv1", "x264": "libx264", "x265": "libx265"}


class InputError(Exception):
    """The input is missing or cannot be read (exit code 3)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``superres`` arguments to ``parser`` (a subcommand parser)."""
    parser.add_argument("input", help="TIFF stack (.tif/.tiff) or a video file")
    parser.add_argument(
        "output", help="TIFF stack for TIFF input; .mkv (or .mp4 with --codec x264/x265) for video"
    )
    parser.add_argument(
        "--model", required=True, help="superres .onnx artifact (vs-colorize-export superres ...)"
    )
    parser.add_argument("--backend", help="inference backend name (default: the fastest available)")
    parser.add_argument("--tile", type=int, help="tile side on the input grid (default: whole frames)")
    parser.add_argument(
        "--overlap", type=int, help="tile overlap in input pixels (default 32, at most half the tile)"
    )
    parser.add_argument(
        "--channel", type=int, help="channel of a multi-channel TIFF (default: refuse colour)"
    )
    parser.add_argument(
        "--range", choices=("full", "limited"), default="full", help="input range (default full)"
    )
    parser.add_argument(
        "--codec", choices=sorted(CODECS), default="ffv1", help="video encoder (default ffv1)"
    )
    parser.add_argument("--crf", type=int, default=18, help="x264/x265 quality (default 18)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")


def tiff_clip(path: Path, channel: int | None) -> tuple[vs.VideoNode, np.dtype]:
    """A GRAY clip holding the frames of a TIFF stack (uint8 / uint16 / float16 / float32 samples)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            data, colour = series.asarray(), series.axes.endswith("S")  # S = samples (RGB) per pixel
    except (OSError, ValueError, IndexError) as exc:
        raise InputError(f"cannot read TIFF {str(path)!r}: {exc}") from exc
    if colour:
        if channel is None:
            raise InputError(f"{str(path)!r} has {data.shape[-1]} channels; pick one with --channel")
        if not 0 <= channel < data.shape[-1]:
            raise InputError(f"--channel must be in 0..{data.shape[-1] - 1}, got {channel}")
        data = data[..., channel]
    data = data.reshape(-1, *data.shape[-2:])
    if data.dtype == np.float64:
        data = data.astype(np.float32)
    fmt = {np.uint8: vs.GRAY8, np.uint16: vs.GRAY16, np.float16: vs.GRAYH, np.float32: vs.GRAYS}.get(
        data.dtype.type
    )
    if fmt is None:
        raise InputError(f"{str(path)!r} has samples of type {data.dtype}; need uint8, uint16 or float")
    frames = np.ascontiguousarray(data)
    blank = core.std.BlankClip(
        format=fmt, width=frames.shape[2], height=frames.shape[1], length=frames.shape[0]
    )

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        np.copyto(np.asarray(out[0]), frames[n])
        return out

    return blank.std.ModifyFrame(blank, fill), data.dtype


def video_clip(path: Path) -> vs.VideoNode:
    """The luma (or GRAY) plane of a video, through :func:`vs_colorize.io.source.open_source`."""
    try:
        clip = open_source(path)
    except (FileNotFoundError, SourceError) as exc:
        raise InputError(f"cannot open video {str(path)!r}: {exc}") from exc
    if clip.format.color_family == vs.YUV:
        return core.std.ShufflePlanes(clip, 0, vs.GRAY)
    if clip.format.color_family != vs.GRAY:
        raise InputError(f"{str(path)!r} is {clip.format.name}; superres needs GRAY or YUV video")
    return clip


def write_tiff(clip: vs.VideoNode, dtype: np.dtype, out: Path, overwrite: bool, progress: Progress) -> None:
    """Render ``clip`` into one multi-page TIFF of ``dtype`` samples, written atomically."""
    import tifffile

    stack = np.empty((clip.num_frames, clip.height, clip.width), dtype=dtype)
    for n, frame in enumerate(clip.frames()):
        stack[n] = np.asarray(frame[0])
        progress.update(n + 1)
    with fileio.atomic_output(out, overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, stack, photometric="minisblack")


def write_video(
    clip: vs.VideoNode, out: Path, *, codec: str, crf: int, overwrite: bool, progress: Progress
) -> None:
    """Encode ``clip`` through :mod:`vs_colorize.io.render` (frame rate and colour tags kept, no audio).

    ``ffv1``: lossless GRAY (float clips as 16 bit); ``x264``/``x265``: 4:2:0, 10 bit for deep or float clips.
    """
    deep = clip.format.sample_type == vs.FLOAT or clip.format.bits_per_sample > 8
    pix_fmt = None if codec == "ffv1" else "yuv420p10le" if deep else "yuv420p"
    settings = EncodeSettings(
        codec=CODECS[codec], crf=None if codec == "ffv1" else crf, pix_fmt=pix_fmt, audio=False
    )
    settings.validate()
    plan = plan_output(out, frames=clip.num_frames)
    written = write_output(
        prepare_clip(clip, plan, settings), plan, settings, overwrite=overwrite, progress=progress.update
    )
    if written != clip.num_frames:
        raise EncodeError(f"wrote {written} of {clip.num_frames} frames")


def run(args: argparse.Namespace) -> int:
    """Execute a parsed ``superres`` command; returns the exit code."""
    src, out = Path(args.input), Path(args.output)
    if not src.is_file():
        log.error("superres: input %r does not exist", str(src))
        return 3
    if out.exists() and not args.overwrite:
        log.error("superres: output %r exists; pass --overwrite to replace it", str(out))
        return 2
    is_tiff = src.suffix.lower() in TIFF_SUFFIXES
    if is_tiff != (out.suffix.lower() in TIFF_SUFFIXES):
        log.error("superres: TIFF input needs a .tif/.tiff output and video input a video output")
        return 2
    try:
        clip, dtype = tiff_clip(src, args.channel) if is_tiff else (video_clip(src), None)
    except InputError as exc:
        log.error("superres: %s", exc)
        return 3
    try:
        result = superres(
            clip,
            args.model,
            backend=args.backend,
            tile=args.tile,
            overlap=args.overlap,
            range_in=1 if args.range == "full" else 0,
        )
    except vs.Error as exc:
        log.error("%s", exc)
        return 2
    progress = Progress(result.num_frames, label="superres", enabled=False if args.quiet else None)
    try:
        if is_tiff:
            assert dtype is not None  # tiff_clip set it
            write_tiff(result, dtype, out, args.overwrite, progress)
        else:
            write_video(
                result, out, codec=args.codec, crf=args.crf, overwrite=args.overwrite, progress=progress
            )
    except (vs.Error, OSError, ValueError, EncodeError) as exc:
        log.error("superres: render failed: %s", exc)
        return 1
    finally:
        progress.close()
    progress.finish(f"superres: {src} -> {out} ({result.width}x{result.height})")
    return 0
