"""``vs-colorize colorize IN OUT``: colorize a film or a still image into a new file (see docs/cli.md)."""

from __future__ import annotations

import argparse
import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import vapoursynth as vs

from ..backends import NAMES, get_backend
from ..core.cli_flags import add_command
from ..filters.colorize import colorize
from ..io.audio import check_audio
from ..io.encode import CODEC_ALIASES, ENCODERS, EncodeError, EncodeSettings, container_of
from ..io.outputs import OutputError, same_file
from ..io.pyav_source import DAMAGED
from ..io.render import pending_frames, plan_output, prepare_clip, stream_plan, write_output
from ..io.source import SOURCES, SourceError, input_files, open_source, probe
from ..io.stdout import STREAM_FORMATS, write_stdout
from ..io.still import sequence_numbers
from ..io.transfer import TRANSFERS, from_model, resolve_transfer, to_model
from ..models import check_engine_trust, model_format
from .common import add_progress_flag, add_run_flags, check_first_frame, make_progress, refuse_existing
from .errors import EXIT_INPUT, EXIT_OK, EXIT_USAGE, CliError, render_failed

log = logging.getLogger("vs_colorize")

#: The output name that means standard output.
STDOUT = "-"


def parse_frames(text: str, length: int) -> tuple[int, int]:
    """``A:B`` (Python slice semantics, no step; negative counts from the end) → ``(start, stop)``.

    Raises ValueError for bad syntax or a selection with no frames of a ``length``-frame clip.
    """
    parts = text.split(":")
    if len(parts) != 2:
        raise ValueError(f"--frames must look like A:B (a slice, e.g. 0:1000 or 5000:), got {text!r}")
    try:
        a, b = (int(p) if p.strip() else None for p in parts)
    except ValueError:
        raise ValueError(f"--frames must hold integers, got {text!r}") from None
    start, stop, _ = slice(a, b).indices(length)
    if start >= stop:
        raise ValueError(f"--frames {text} selects no frames of a {length}-frame clip")
    return start, stop


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = add_command(
        sub,
        "colorize",
        "colorize a film or a still image into a new file",
        "Colorize a film or a still: the source luma is kept, the chroma comes from the model.",
        "vs-colorize colorize film.mp4 film_color.mkv                 # x264 crf 18, audio copied",
        "vs-colorize colorize film.mp4 master.mkv --codec ffv1 -y     # lossless master",
        "vs-colorize colorize film.mp4 - | ffmpeg -i - -c:v libx264 out.mp4   # y4m on stdout",
    )
    c.add_argument("input", help="film (anything FFmpeg reads) or still image (PNG/JPEG/TIFF)")
    c.add_argument("output", help=".mkv/.mp4/.mov, or .png/.tif (one image, or a sequence: out_%%06d.png)")
    add_render_options(c)
    c.add_argument_group("output").add_argument(
        "--format",
        choices=STREAM_FORMATS,
        help="for output '-' (stdout): y4m (default; like vspipe -c y4m) or a streamable container",
    )
    inp = c.add_argument_group("input")
    inp.add_argument("--frames", metavar="A:B", help="render only frames A..B-1 (Python slice)")
    inp.add_argument(
        "--allow-damaged",
        action="store_true",
        help="render what decodes of a damaged input (default: exit 3 naming what is missing)",
    )
    add_progress_flag(c)
    add_run_flags(c, skip_existing=True)
    c.set_defaults(run=run)


def add_render_options(parser: argparse.ArgumentParser, *, engines: bool = True) -> None:
    """The model, encoding and reader options of ``colorize`` (shared with ``farm plan``, which takes no
    TensorRT engine files: ``engines=False`` leaves out ``--trust-engine``)."""
    m = parser.add_argument_group("model")
    m.add_argument(
        "--model",
        metavar="NAME|FILE",
        help="registry name (video, stable, artistic, demo) or .onnx path; default: video, else demo",
    )
    if engines:
        m.add_argument(
            "--trust-engine",
            action="store_true",
            help="allow a TensorRT .engine/.plan as --model: an engine is native code that runs as it loads;"
            " only for engines you built or got over a trusted channel",
        )
    m.add_argument(
        "--render-factor",
        metavar="N",
        type=int,
        default=21,
        help="model size = 16 x this, 4..64 (default 21 = 336 px)",
    )
    m.add_argument(
        "--backend", choices=sorted(NAMES), help="inference backend (default: the fastest available)"
    )
    m.add_argument(
        "--streams",
        metavar="N",
        type=int,
        default=None,
        help="frames inferred concurrently (backend num_streams; default: the backend's own, 2 on multi-core CPUs)",
    )
    m.add_argument(
        "--batch", metavar="B", type=int, help="frames per model call (backend batch_size; default 1)"
    )
    m.add_argument(
        "--fit", choices=("stretch", "pad"), default="stretch", help="stretch (DeOldify) or pad (keep aspect)"
    )
    m.add_argument(
        "--temporal-radius",
        metavar="N",
        type=int,
        default=0,
        help="average chroma over 2N+1 frames, 0..7 (default 0); with --keyframes the output chroma after their"
        " blend (keyframe frames kept exact)",
    )
    m.add_argument(
        "--temporal-mode",
        choices=("average", "mc"),
        default="average",
        help="average = plain mean over the radius; mc = motion-compensated (MVTools) first; use mc with"
        " --keyframes (average smears their colour across moving edges)",
    )
    m.add_argument(
        "--keyframes",
        metavar="DIR",
        help="colour pictures named by frame number (000120.png): their colour is kept and carried along",
    )
    m.add_argument(
        "--transfer-in",
        choices=TRANSFERS,
        default="auto",
        help="how the input is encoded: auto (from metadata), srgb, bt709, linear (EXR), log (Cineon DPX);"
        " the model sees sRGB and the output keeps the input's encoding",
    )
    e = parser.add_argument_group("encoding")
    e.add_argument(
        "--codec",
        metavar="C",
        default="x264",
        help=f"video encoder: FFmpeg name or one of {', '.join(CODEC_ALIASES)} (default x264; ffv1 = lossless)",
    )
    e.add_argument(
        "--crf", metavar="Q", type=int, help="quality (x264/x265 0..51, default 18/20; vp9/av1 0..63)"
    )
    e.add_argument(
        "--pix-fmt",
        metavar="F",
        help="convert to this planar pixel format first (e.g. yuv422p10le for ProRes)",
    )
    e.add_argument("--preset", metavar="P", help="x264/x265 preset (default medium)")
    e.add_argument(
        "--depth",
        choices=("8", "10", "12", "16", "half", "float"),
        help="image output depth (default: the input's own; PNG 8/16, TIFF 8/16/float, DPX 8-16, EXR half/float)",
    )
    e.add_argument(
        "--encoder",
        choices=ENCODERS,
        default="auto",
        help="auto/pyav = in-process PyAV; ffmpeg = pipe into the ffmpeg binary",
    )
    e.add_argument("--no-audio", action="store_true", help="do not copy the input's audio streams")
    r = parser.add_argument_group("run")
    r.add_argument(
        "--source",
        choices=SOURCES,
        default="auto",
        help="input reader (default: BestSource if installed, else PyAV)",
    )
    r.add_argument(
        "--threads",
        metavar="N",
        type=int,
        default=0,
        help="VapourSynth worker threads (default: one per core)",
    )


def run(args: argparse.Namespace) -> int:
    settings = EncodeSettings(
        codec=args.codec, crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt, audio=not args.no_audio
    )
    try:
        check_engine_trust(args.model, args.trust_engine, func="colorize")
        settings.validate()
        if args.threads < 0:
            raise ValueError(f"--threads must be >= 0, got {args.threads}")
        if args.streams is not None and args.streams < 1:
            raise ValueError(f"--streams must be >= 1, got {args.streams}")
    except (vs.Error, ValueError) as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    src, out = Path(args.input), Path(args.output)
    to_stdout = args.output == STDOUT
    if to_stdout and (args.skip_existing or args.overwrite):
        raise CliError(
            EXIT_USAGE, "output '-' is standard output: -y/--overwrite and --skip-existing do not apply"
        )
    if args.format is not None and not to_stdout:
        raise CliError(EXIT_USAGE, "--format is for output '-' (a file's extension picks its container)")
    if args.skip_existing and out.is_file() and not same_file(src, out):
        log.info("colorize: %s exists, skipping", out)
        return EXIT_OK
    try:
        clip = open_source(src, source=args.source, allow_damaged=args.allow_damaged)
        info = probe(src)
        numbers = sequence_numbers(src)  # an image sequence's outputs keep its frame numbers
    except (FileNotFoundError, SourceError) as exc:
        raise CliError(EXIT_INPUT, str(exc)) from None
    if args.threads:
        vs.core.num_threads = args.threads
    if to_stdout:
        return _run_stdout(args, settings, clip, src, info.audio_streams)
    try:
        start, stop = parse_frames(args.frames, clip.num_frames) if args.frames else (0, clip.num_frames)
        plan = plan_output(
            out,
            frames=stop - start,
            first=start,
            numbers=numbers[start:stop] if numbers else None,
            encoder=args.encoder,
            inputs=input_files(src),
            depth=args.depth,
        )
    except (ValueError, OutputError) as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    if plan.existing and not args.overwrite:
        if not args.skip_existing:
            refuse_existing(plan.existing)
        if len(plan.existing) == len(plan.files):
            log.info("colorize: all %d output files exist, skipping", len(plan.files))
            return EXIT_OK
        log.info("colorize: %d of %d images exist; rendering the rest", len(plan.existing), len(plan.files))
    check_first_frame(clip[start], "colorize", src)
    audio_from, window = _audio(info.audio_streams, src, clip, start, stop, settings, plan.image)
    try:
        colored = prepare_clip(render(args, clip, start, stop), plan, settings)
        if audio_from is not None:
            check_audio(audio_from, container_of(plan.path))
    except (vs.Error, ValueError) as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None

    pending = pending_frames(plan, colored.num_frames, skip_existing=args.skip_existing)
    todo = len(pending)
    progress = make_progress(args, todo, "colorize")
    done = [0]

    def update(n: int) -> None:
        done[0] = n
        progress.update(n)

    try:
        written = write_output(
            colored,
            plan,
            settings,
            overwrite=args.overwrite,
            skip_existing=args.skip_existing,
            audio_from=audio_from,
            audio_window=window,
            progress=update,
        )
    except (vs.Error, EncodeError, OSError) as exc:  # inference, encoder, disk full, undecodable input …
        frame = start + (pending[min(done[0], todo - 1)] if pending else 0)
        damaged = [line for line in str(exc).splitlines() if DAMAGED in line]
        if damaged:  # undecodable input: the reader's one line, exit 3 (a retry cannot help)
            raise CliError(EXIT_INPUT, f"colorize: render of {args.input!r} failed: {damaged[-1]}") from None
        raise render_failed("colorize", exc, output=out, frame=frame) from None
    finally:
        progress.close()
    if written != todo:
        raise render_failed(
            "colorize", EncodeError(f"wrote {written} of {todo} frames"), output=out, frame=start + written
        )
    progress.finish(f"colorize: {args.input} -> {args.output}")
    return EXIT_OK


def _run_stdout(
    args: argparse.Namespace, settings: EncodeSettings, clip: vs.VideoNode, src: Path, audio_streams: int
) -> int:
    """``colorize IN -``: stream the render to stdout as y4m or a streamable container (``--format``)."""
    fmt = args.format or "y4m"
    try:
        start, stop = parse_frames(args.frames, clip.num_frames) if args.frames else (0, clip.num_frames)
    except ValueError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    check_first_frame(clip[start], "colorize", src)
    audio_from, window = (
        _audio(audio_streams, src, clip, start, stop, settings, False)
        if fmt != "y4m"
        else (None, (Fraction(0), None))
    )
    try:
        colored = render(args, clip, start, stop)
        if fmt != "y4m":
            colored = prepare_clip(colored, stream_plan(fmt), settings)
    except (vs.Error, ValueError) as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    progress = make_progress(args, colored.num_frames, "colorize")
    try:
        written = write_stdout(
            colored, fmt, settings, audio_from=audio_from, audio_window=window, progress=progress.update
        )
    except (vs.Error, EncodeError, OSError, ValueError) as exc:
        raise render_failed("colorize", exc, output="<stdout>", frame=start + progress.done) from None
    finally:
        progress.close()
    progress.finish(f"colorize: {args.input} -> stdout ({fmt}, {written} frames)")
    return EXIT_OK


def render(args: argparse.Namespace, clip: vs.VideoNode, start: int, stop: int) -> vs.VideoNode:
    """The colorized frames ``start..stop-1`` as the render options ask (model, backend, transfer, keyframes,
    smoothing). The whole input is colorized and then trimmed: keyframes and smoothing see past the edges."""
    backend = get_backend(
        args.backend, func="colorize", model_format=model_format(args.model), **backend_overrides(args)
    )
    transfer = resolve_transfer(clip, args.transfer_in, func="colorize")
    colored = colorize(
        to_model(clip, transfer),
        args.model,
        args.render_factor,
        backend,
        fit=args.fit,
        temporal_radius=args.temporal_radius,
        temporal_mode=args.temporal_mode,
        keyframes=args.keyframes,
        trust_engine=args.trust_engine,
    )
    colored = from_model(colored, transfer, clip)
    return colored[start:stop] if (start, stop) != (0, clip.num_frames) else colored


def backend_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """``--streams`` and ``--batch`` as backend settings (only those the user gave)."""
    asked = {"num_streams": args.streams, "batch_size": getattr(args, "batch", None)}
    return {k: v for k, v in asked.items() if v is not None}


def _audio(
    streams: int, src: Path, clip: vs.VideoNode, start: int, stop: int, settings: EncodeSettings, image: bool
) -> tuple[Path | None, tuple[Fraction, Fraction | None]]:
    """Which file to copy audio from, and the time window of the rendered frames."""
    if image or not settings.audio or streams == 0:
        return None, (Fraction(0), None)
    if start == 0 and stop == clip.num_frames:
        return src, (Fraction(0), None)
    if not clip.fps.numerator:
        log.warning("colorize: variable frame rate with --frames: audio not copied (mux it after joining)")
        return None, (Fraction(0), None)
    step = 1 / Fraction(clip.fps)
    return src, (start * step, stop * step)
