"""``vs-colorize superres IN OUT``: microscopy super-resolution from the command line.

TIFF stacks in (plain, ImageJ hyperstack or OME-TIFF) → a TIFF stack out of the same flavour, axes and sample
type, ``scale``× larger with the pixel sizes divided by ``scale``, each channel processed separately, streamed
page by page (:mod:`vs_colorize.io.tiff_stack`); videos in (anything ``io.open_source`` reads; the luma plane of YUV)
→ a video out (FFV1 lossless GRAY in Matroska by default, or x264/x265) through ``io.render``, keeping
the frame rate (or per-frame durations) and colour tags. Same output checks and exit codes as
``colorize`` (:mod:`.errors`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import vapoursynth as vs

from ..core.cli_flags import add_command
from ..filters.superres import superres
from ..io.encode import EncodeError, EncodeSettings
from ..io.outputs import OutputError
from ..io.render import plan_output, prepare_clip, write_output
from ..io.source import SourceError, open_source
from ..io.tiff_stack import TiffStack, interleave, is_tiff, read_tiff_stack, write_tiff_stack
from ..models import check_engine_trust
from .common import add_progress_flag, add_run_flags, checked_outputs, make_progress, refuse_existing
from .errors import EXIT_INPUT, EXIT_OK, EXIT_USAGE, CliError, render_failed

log = logging.getLogger("vs_colorize")
CODECS = {"ffv1": "ffv1", "x264": "libx264", "x265": "libx265"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(
        sub,
        "superres",
        "3-frame microscopy super-resolution (TIFF stack or video)",
        "4x super-resolution of a grey time-lapse from frames t-1, t, t+1.",
        "vs-colorize superres movie.tif movie_4x.tif --model pssr3.onnx",
        "vs-colorize superres movie.tif movie_4x.tif --model pssr3.onnx --tile 256 --progress json",
    )
    p.add_argument("input", help="TIFF stack (.tif/.tiff) or a video file")
    p.add_argument(
        "output", help="TIFF stack for TIFF input; .mkv (or .mp4 with --codec x264/x265) for video"
    )
    p.add_argument(
        "--model",
        help="superres .onnx artifact (vs-colorize-export superres ...); default: the shipped pssr3-x4-confocal",
    )
    p.add_argument("--backend", help="inference backend name (default: the fastest available)")
    p.add_argument(
        "--trust-engine",
        action="store_true",
        help="allow a TensorRT .engine/.plan as --model (native code that runs as it loads; only your own)",
    )
    p.add_argument("--tile", type=int, help="tile side on the input grid (default: whole frames)")
    p.add_argument(
        "--overlap", type=int, help="tile overlap in input pixels (default 32, at most half the tile)"
    )
    p.add_argument("--channel", type=int, help="channel of a multi-channel TIFF (default: refuse colour)")
    p.add_argument("--range", choices=("full", "limited"), default="full", help="input range (default full)")
    p.add_argument("--codec", choices=sorted(CODECS), default="ffv1", help="video encoder (default ffv1)")
    p.add_argument("--crf", type=int, help="x264/x265 quality 0..51 (default 18/20; refused with ffv1)")
    add_progress_flag(p)
    add_run_flags(p)
    p.set_defaults(run=run)


def _video_settings(clip: vs.VideoNode, codec: str, crf: int | None) -> EncodeSettings:
    """``ffv1``: lossless GRAY (float clips as 16 bit); x264/x265: 4:2:0, 10 bit for deep or float clips."""
    deep = clip.format.sample_type == vs.FLOAT or clip.format.bits_per_sample > 8
    pix_fmt = None if codec == "ffv1" else "yuv420p10le" if deep else "yuv420p"
    return EncodeSettings(codec=CODECS[codec], crf=crf, pix_fmt=pix_fmt, audio=False)


def _video_clip(path: Path) -> vs.VideoNode:
    """The luma (or GRAY) plane of a video, through :func:`vs_colorize.io.source.open_source`."""
    try:
        clip = open_source(path)
    except (FileNotFoundError, SourceError) as exc:
        raise CliError(EXIT_INPUT, f"cannot open video {str(path)!r}: {exc}") from None
    if clip.format.color_family == vs.YUV:
        return vs.core.std.ShufflePlanes(clip, 0, vs.GRAY)
    if clip.format.color_family != vs.GRAY:
        raise CliError(EXIT_INPUT, f"{str(path)!r} is {clip.format.name}; superres needs GRAY or YUV video")
    return clip


def _describe(stack: TiffStack) -> str:
    """One log line: flavour, axes and shape, pixel size and time step of a TIFF stack."""
    info = stack.info
    sizes = ", ".join(f"{a} {v:g} {u}" for a, (v, u) in info.pixel_size.items()) or "pixel size unknown"
    step = f", time step {info.time_increment[0]:g} {info.time_increment[1]}" if info.time_increment else ""
    shape = "x".join(map(str, info.shape))
    return f"{info.flavour} TIFF, axes {info.axes} {shape} {info.dtype}, {sizes}{step}, window along {info.window_axis}"


def run(args: argparse.Namespace) -> int:
    """Execute a parsed ``superres`` command; returns the exit code."""
    try:
        check_engine_trust(args.model, args.trust_engine, func="superres")
    except vs.Error as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    src, out = Path(args.input), Path(args.output)
    if not src.is_file():
        raise CliError(EXIT_INPUT, f"input {str(src)!r} does not exist")
    tiff = is_tiff(src)
    if tiff != is_tiff(out):
        raise CliError(EXIT_USAGE, "TIFF input needs a .tif/.tiff output and video input a video output")
    if tiff and args.crf is not None:
        raise CliError(EXIT_USAGE, "--crf applies to x264/x265 video output, not to TIFF stacks")
    if tiff:
        existing = checked_outputs([out], inputs=[src])
        if not args.overwrite:
            refuse_existing(existing)
    stack: TiffStack | None = None
    try:
        if tiff:
            stack = read_tiff_stack(src, args.channel)
            clips = stack.clips
            log.info("superres: %s", _describe(stack))
        else:
            clips = [_video_clip(src)]
    except SourceError as exc:
        raise CliError(EXIT_INPUT, str(exc)) from None
    plan, settings = None, EncodeSettings()
    try:
        results = [
            superres(
                clip,
                args.model,
                backend=args.backend,
                tile=args.tile,
                overlap=args.overlap,
                range_in=1 if args.range == "full" else 0,
                trust_engine=args.trust_engine,
            )
            for clip in clips
        ]
        result = interleave(results)
        if not tiff:
            settings = _video_settings(result, args.codec, args.crf)
            settings.validate()
            plan = plan_output(out, frames=result.num_frames, inputs=[src])
            result = prepare_clip(result, plan, settings)
    except (vs.Error, ValueError, OutputError) as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    if plan is not None and not args.overwrite:
        refuse_existing(plan.existing)
    progress = make_progress(args, result.num_frames, "superres")
    done = [0]

    def update(n: int) -> None:
        done[0] = n
        progress.update(n)

    try:
        if stack is not None:
            info = stack.info.scaled(result.width // clips[0].width)
            written = write_tiff_stack(result, info, out, overwrite=args.overwrite, progress=update)
        else:
            assert plan is not None  # video output: planned above
            written = write_output(result, plan, settings, overwrite=args.overwrite, progress=update)
        if written != result.num_frames:
            raise EncodeError(f"wrote {written} of {result.num_frames} frames")
    except (vs.Error, OSError, EncodeError) as exc:
        raise render_failed("superres", exc, output=out, frame=done[0]) from None
    finally:
        progress.close()
        if stack is not None:
            stack.close()
    progress.finish(f"superres: {src} -> {out} ({result.width}x{result.height})")
    return EXIT_OK
