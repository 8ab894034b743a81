"""``vs-colorize superres IN OUT``: microscopy super-resolution from the command line.

TIFF stacks in → a TIFF stack out (same sample type, ``scale``× larger); videos in (anything BestSource
reads; the luma plane of YUV) → a video out (FFV1 lossless GRAY in Matroska by default, or x264/x265).
Mounted by ``vs_colorize.cli`` as a subcommand through :func:`add_arguments` and :func:`run`.

Exit codes: 0 done, 1 the render failed, 2 bad arguments / existing output / unusable model, 3 input missing
or unreadable. Nothing goes to stdout; logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import vapoursynth as vs

from . import cache
from .superres import superres

log = logging.getLogger("vs_colorize")
core = vs.core

TIFF_SUFFIXES = (".tif", ".tiff")
CODECS = {"ffv1": "ffv1", "x264": "libx264", "x265": "libx265"}
DTYPES = {
    (vs.INTEGER, 1): np.uint8,
    (vs.INTEGER, 2): np.uint16,
    (vs.FLOAT, 2): np.float16,
    (vs.FLOAT, 4): np.float32,
}


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
    """The luma (or GRAY) plane of a video, through BestSource with its index in the user cache."""
    try:
        clip = core.bs.VideoSource(str(path), cachepath=str(cache.subdir("bsindex")), showprogress=0)
    except vs.Error as exc:
        raise InputError(f"cannot open video {str(path)!r}: {exc}") from exc
    if clip.format.color_family == vs.YUV:
        return core.std.ShufflePlanes(clip, 0, vs.GRAY)
    if clip.format.color_family != vs.GRAY:
        raise InputError(f"{str(path)!r} is {clip.format.name}; superres needs GRAY or YUV video")
    return clip


def write_tiff(clip: vs.VideoNode, dtype: np.dtype, out: Path, overwrite: bool) -> None:
    import tifffile

    stack = np.empty((clip.num_frames, clip.height, clip.width), dtype=dtype)
    for n, frame in enumerate(clip.frames()):
        stack[n] = np.asarray(frame[0])
        log.info("superres: frame %d/%d", n + 1, clip.num_frames)
    with cache.atomic_output(out, overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, stack, photometric="minisblack")


def write_video(clip: vs.VideoNode, out: Path, *, codec: str, crf: int, overwrite: bool) -> None:
    import av

    deep = clip.format.bits_per_sample > 8
    if clip.format.sample_type == vs.FLOAT or (deep and codec != "ffv1"):
        bits = 16 if codec == "ffv1" else 10
        clip = core.resize.Point(clip, format=core.query_video_format(vs.GRAY, vs.INTEGER, bits).id)
        deep = True
    in_fmt = "gray16le" if clip.format.bits_per_sample > 8 else "gray"
    pix_fmt = in_fmt if codec == "ffv1" else "yuv420p10le" if deep else "yuv420p"
    rate = clip.fps if clip.fps.numerator else 25
    with cache.atomic_output(out, overwrite=overwrite) as tmp, av.open(str(tmp), "w") as container:
        stream = container.add_stream(CODECS[codec], rate=rate)
        stream.width, stream.height, stream.pix_fmt = clip.width, clip.height, pix_fmt
        if codec != "ffv1":
            stream.options = {"crf": str(crf)}
        shift = 16 - clip.format.bits_per_sample
        for n, frame in enumerate(clip.frames()):
            a = np.asarray(frame[0])
            a = (a.astype(np.uint16) << shift) if in_fmt == "gray16le" else a
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(a), format=in_fmt)))
            log.info("superres: frame %d/%d", n + 1, clip.num_frames)
        container.mux(stream.encode())


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
    try:
        if is_tiff:
            write_tiff(result, dtype, out, args.overwrite)
        else:
            write_video(result, out, codec=args.codec, crf=args.crf, overwrite=args.overwrite)
    except (vs.Error, OSError, ValueError) as exc:
        log.error("superres: render failed: %s", exc)
        return 1
    log.info("superres: wrote %s (%dx%d, %d frames)", out, result.width, result.height, result.num_frames)
    return 0
