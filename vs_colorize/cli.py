"""``vs-colorize``: file-to-file renders from the command line (also ``python -m vs_colorize``).

Subcommands: ``colorize IN OUT`` renders a film or a still image, ``models`` lists the registry models
installed and which one is the default. (``superres`` will sit beside them.)

Exit codes (see docs/cli.md): 0 done (or skipped with ``--skip-existing``), 1 the render failed,
2 the command is wrong (arguments, existing output, missing output directory, model or codec),
3 the input is missing or unusable, 130 interrupted (SIGINT), 143 terminated (SIGTERM).
Nothing is printed on stdout except by ``models``; logs and the progress bar go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from types import FrameType

import vapoursynth as vs

from . import superres_cli
from ._version import __version__
from .backends import NAMES, get_backend
from .core import cache
from .core.contract import ContractError, read_model_info
from .filters.colorize import colorize
from .io.audio import check_audio
from .io.encode import CODEC_ALIASES, ENCODERS, EncodeError, EncodeSettings, container_of
from .io.render import pending_frames, plan_output, prepare_clip, write_output
from .io.source import SOURCES, SourceError, open_source, probe
from .models import DEFAULT_CHAIN, model_format, registry_candidates
from .progress import Progress

log = logging.getLogger("vs_colorize")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INPUT = 0, 1, 2, 3
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


class CliError(Exception):
    """A failure with its exit code; the message is logged as the command's last word."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so cleanup runs exactly as for Ctrl-C."""


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vs-colorize", description="DeOldify-style colorization for films and photos."
    )
    parser.add_argument("--version", action="version", version=f"vs-colorize {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("colorize", help="colorize a film or a still image into a new file")
    c.add_argument("input", help="film (anything FFmpeg reads) or still image (PNG/JPEG/TIFF)")
    c.add_argument("output", help=".mkv/.mp4/.mov, or .png/.tif (one image, or a sequence: out_%%06d.png)")
    m = c.add_argument_group("model")
    m.add_argument(
        "--model",
        metavar="NAME|FILE",
        help="registry name (video, stable, artistic, demo) or .onnx path; default: video, else demo",
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
        help="average chroma over 2N+1 frames, 0..7 (default 0)",
    )
    e = c.add_argument_group("encoding")
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
        "--encoder",
        choices=ENCODERS,
        default="auto",
        help="auto/pyav = in-process PyAV; ffmpeg = pipe into the ffmpeg binary",
    )
    e.add_argument("--no-audio", action="store_true", help="do not copy the input's audio streams")
    r = c.add_argument_group("run")
    r.add_argument("--frames", metavar="A:B", help="render only frames A..B-1 (Python slice; for farms)")
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
    over = r.add_mutually_exclusive_group()
    over.add_argument("--overwrite", action="store_true", help="replace an existing output")
    over.add_argument(
        "--skip-existing",
        action="store_true",
        help="exit 0 at once when the output exists (idempotent reruns)",
    )
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar, only warnings and errors")
    r.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    mo = sub.add_parser("models", help="list the registry models found in the cache and the default")
    mo.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    sr = sub.add_parser("superres", help="3-frame microscopy super-resolution (TIFF stack or video)")
    superres_cli.add_arguments(sr)
    sr.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sr.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def _colorize(args: argparse.Namespace) -> int:
    settings = EncodeSettings(
        codec=args.codec, crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt, audio=not args.no_audio
    )
    try:
        settings.validate()
        if args.threads < 0:
            raise ValueError(f"--threads must be >= 0, got {args.threads}")
        if args.streams is not None and args.streams < 1:
            raise ValueError(f"--streams must be >= 1, got {args.streams}")
    except ValueError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    src, out = Path(args.input), Path(args.output)
    if src.exists() and out.exists() and src.resolve() == out.resolve():
        raise CliError(EXIT_USAGE, f"output {args.output!r} is the input file")
    if args.skip_existing and out.is_file():
        log.info("colorize: %s exists, skipping", out)
        return EXIT_OK
    try:
        clip = open_source(src, source=args.source)
        info = probe(src)
    except (FileNotFoundError, SourceError) as exc:
        raise CliError(EXIT_INPUT, str(exc)) from None
    if args.threads:
        vs.core.num_threads = args.threads
    try:
        start, stop = parse_frames(args.frames, clip.num_frames) if args.frames else (0, clip.num_frames)
        plan = plan_output(out, frames=stop - start, first=start, encoder=args.encoder)
    except (ValueError, OSError) as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    if plan.existing and not args.overwrite:
        if not args.skip_existing:
            more = f" (and {len(plan.existing) - 1} more)" if len(plan.existing) > 1 else ""
            first = str(plan.existing[0])
            raise CliError(EXIT_USAGE, f"output {first!r}{more} exists; pass --overwrite to replace it")
        if len(plan.existing) == len(plan.files):
            log.info("colorize: all %d output files exist, skipping", len(plan.files))
            return EXIT_OK
        log.info("colorize: %d of %d images exist; rendering the rest", len(plan.existing), len(plan.files))
    audio_from, window = _audio(info.audio_streams, src, clip, start, stop, settings, plan.image)
    if (start, stop) != (0, clip.num_frames):
        clip = clip[start:stop]
    try:
        streams = {} if args.streams is None else {"num_streams": args.streams}
        streams |= {} if args.batch is None else {"batch_size": args.batch}
        backend = get_backend(args.backend, func="colorize", model_format=model_format(args.model), **streams)
        colored = colorize(
            clip, args.model, args.render_factor, backend, fit=args.fit, temporal_radius=args.temporal_radius
        )
        colored = prepare_clip(colored, plan, settings)
        if audio_from is not None:
            check_audio(audio_from, container_of(plan.path))
    except (vs.Error, ValueError) as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None

    todo = len(pending_frames(plan, colored.num_frames, skip_existing=args.skip_existing))
    progress = Progress(todo, label="colorize", enabled=False if args.quiet else None)
    try:
        written = write_output(
            colored,
            plan,
            settings,
            overwrite=args.overwrite,
            skip_existing=args.skip_existing,
            audio_from=audio_from,
            audio_window=window,
            progress=progress.update,
        )
    except (vs.Error, EncodeError, OSError) as exc:  # inference, encoder, disk full …
        raise CliError(EXIT_FAILED, f"render of {args.input!r} failed: {exc}") from None
    finally:
        progress.close()
    if written != todo:
        raise CliError(EXIT_FAILED, f"wrote {written} of {todo} frames")
    progress.finish(f"colorize: {args.input} -> {args.output}")
    return EXIT_OK


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


def _models(args: argparse.Namespace) -> int:
    rows = [
        (n, [p for p in registry_candidates(n, "fp32", "onnx") if p.is_file()]) for n in cache.REGISTRY_NAMES
    ]
    installed = {name for name, found in rows if found}
    default = next((n for n in DEFAULT_CHAIN if n in installed), None)
    print(f"model cache: {cache.cache_dir() / 'models'}")
    for name, found in rows:
        mark = "*" if name == default else " "
        if not found:
            print(f"{mark} {name:<9} not installed")
        for path in found:
            try:
                mi = read_model_info(path)
                desc = f"{mi.arch}, {mi.precision}, " + (
                    f"static {mi.static_size[1]}x{mi.static_size[0]}"
                    if mi.static_size
                    else f"sides {mi.dynamic_range}"
                )
            except (ContractError, OSError) as exc:
                desc = f"unusable: {exc}"
            print(f"{mark} {name:<9} {path}  ({desc})")
    print(f"default (model=None): {default or 'none installed'}")
    return EXIT_OK


#: Subcommand → handler.
_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "colorize": _colorize,
    "models": _models,
    "superres": lambda args: superres_cli.run(args),
}


@contextlib.contextmanager
def _logging(verbose: bool, quiet: bool) -> Iterator[None]:
    """Log the package to stderr for one command, then put the logger back as it was."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(message)s" if not verbose else "%(levelname)s %(name)s: %(message)s")
    )
    saved = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.level, log.propagate = saved


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (``sys.exit(main())`` in the console script)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help/--version (0) or a usage error (2, already printed)
        return int(exc.code or 0)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        with _logging(args.verbose, getattr(args, "quiet", False)):
            return _run(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    try:
        return _COMMANDS[args.command](args)
    except CliError as exc:
        log.error("vs-colorize: error: %s", exc)
        return exc.code
    except KeyboardInterrupt:
        log.error("vs-colorize: interrupted; no output written")
        return EXIT_SIGINT
    except Terminated:
        log.error("vs-colorize: terminated; no output written")
        return EXIT_SIGTERM
    except Exception:  # a bug: keep the traceback in the log, fail like any failed render
        log.exception("vs-colorize: unexpected error")
        return EXIT_FAILED


__all__ = ["EXIT_FAILED", "EXIT_INPUT", "EXIT_OK", "EXIT_USAGE", "main", "parse_frames"]
