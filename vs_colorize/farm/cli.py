"""``vs-colorize farm plan|chunk|concat|run``: one film over many machines (see docs/farm.md).

Exit codes: 0 done, 1 a render failed, 2 the command is wrong (arguments, existing output, a plan or a
model that does not fit this machine), 3 the input is missing or unusable, 4 ``concat``/``run`` refused
because chunks are missing or foreign (the indices to redo are logged, ``3,7,12``, ready for a scheduler's
array list), 130/143 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import vapoursynth as vs

from ..cli.common import add_progress_flag, add_run_flags, make_progress
from ..cli.errors import EXIT_FAILED, EXIT_INPUT, EXIT_OK, EXIT_REDO, EXIT_USAGE, CliError
from ..core.cli_flags import add_common_flags, examples
from ..io.encode import EncodeError, EncodeSettings
from ..io.source import SourceError, open_source, probe
from ..models import model_format
from . import plan as planning
from .chunk import array_index, render_chunk, resolve_identity
from .concat import ChunksToRedo, concat

log = logging.getLogger("vs_colorize")


def register(sub: Any) -> None:
    """Add ``farm`` and its four steps to the ``vs-colorize`` subparsers ``sub``."""
    from ..cli.colorize import add_render_options

    farm = sub.add_parser(
        "farm",
        help="render one film as chunks on many machines (Ray or array jobs)",
        **examples(
            "vs-colorize farm plan film.mp4 /shared/film --chunk-seconds 60 --codec ffv1",
            "SLURM_ARRAY_TASK_ID=3 vs-colorize farm chunk /shared/film      # one array task",
            "vs-colorize farm concat /shared/film film_color.mkv",
            "vs-colorize farm run /shared/film film_color.mkv --address auto   # all on Ray",
        ),
    )
    farm.set_defaults(run=run)
    fsub = farm.add_subparsers(dest="farm_command", required=True, metavar="STEP")

    p = fsub.add_parser("plan", help="split a film into scene-cut chunks: PLAN_DIR/plan.json")
    p.add_argument("input", help="the film (anything FFmpeg reads)")
    p.add_argument("plan_dir", help="folder for plan.json and the chunks (shared by all workers)")
    add_render_options(p, engines=False)
    p.add_argument("--frames", metavar="A:B", help="plan only frames A..B-1 (Python slice)")
    size = p.add_argument_group("chunks").add_mutually_exclusive_group()
    size.add_argument("--chunks", metavar="N", type=int, help="about N chunks")
    size.add_argument(
        "--chunk-seconds",
        metavar="S",
        type=float,
        default=60.0,
        help="about S seconds per chunk (default 60)",
    )
    add_run_flags(p)

    c = fsub.add_parser("chunk", help="render chunk K of a plan (K from the argument or the array job)")
    c.add_argument("plan_dir")
    c.add_argument("index", nargs="?", type=int, metavar="K", help="chunk index (default: the array index)")
    c.add_argument(
        "--index-base",
        metavar="B",
        type=int,
        help="the array's first index (default 0; 1 for SGE_TASK_ID); chunk K = index - B",
    )
    add_progress_flag(c)
    add_common_flags(c)

    j = fsub.add_parser("concat", help="check every chunk and join them without re-encoding")
    j.add_argument("plan_dir")
    j.add_argument("output", help=".mkv (holds any codec), .mp4 or .mov")
    add_run_flags(j)

    r = fsub.add_parser("run", help="render all chunks on a Ray cluster, then concat")
    r.add_argument("plan_dir")
    r.add_argument("output")
    where = r.add_mutually_exclusive_group()
    where.add_argument("--address", metavar="RAY_ADDRESS", help="join this Ray cluster (host:port or auto)")
    where.add_argument("--local-workers", metavar="N", type=int, help="start a local Ray with N workers")
    r.add_argument(
        "--cpus-per-worker", metavar="C", type=int, default=1, help="CPUs per CPU worker (default 1)"
    )
    r.add_argument("--retries", metavar="R", type=int, default=3, help="tries per chunk after a lost worker")
    add_run_flags(r)


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The render settings a plan records (what decides the chunks' bits)."""
    enc = EncodeSettings(codec=args.codec, crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt)
    try:
        enc.validate()
        if args.encoder == "ffmpeg":
            raise ValueError("farm: chunks are written in-process (--encoder pyav); drop --encoder ffmpeg")
        if args.streams is not None and args.streams < 1:
            raise ValueError(f"--streams must be >= 1, got {args.streams}")
        if args.threads < 0:
            raise ValueError(f"--threads must be >= 0, got {args.threads}")
        if getattr(args, "transfer_in", "auto") != "auto":
            raise ValueError(
                "farm: --transfer-in is for scans (image sequences); farms render films as they are"
            )
        if model_format(args.model) == "engine":
            raise ValueError(
                f"farm: --model {args.model!r} is a TensorRT engine, which runs only on the GPU model and "
                "TensorRT version it was built for (and is native code each worker would run); give the "
                ".onnx and each worker builds and caches its own engine"
            )
        if getattr(args, "keyframes", None):
            raise ValueError(
                "farm: --keyframes carries colour up to keyframe_reach frames across chunk boundaries, which "
                "chunks cannot see; colorize keyframed shots with `vs-colorize colorize`"
            )
    except ValueError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    return {
        "model": args.model,
        "render_factor": args.render_factor,
        "backend": args.backend,
        "streams": args.streams,
        "batch": args.batch,
        "fit": args.fit,
        "temporal_radius": args.temporal_radius,
        "temporal_mode": args.temporal_mode,
        "scene_threshold": planning.SCENE_THRESHOLD,
        "codec": enc.codec,
        "crf": enc.crf,
        "preset": enc.preset,
        "pix_fmt": enc.pix_fmt,
        "audio": not args.no_audio,
        "source": args.source,
        "threads": args.threads,
    }


def _plan(args: argparse.Namespace) -> int:
    from ..cli.colorize import parse_frames

    settings = _settings(args)
    src, plan_dir = Path(args.input), Path(args.plan_dir)
    if (plan_dir / planning.PLAN_NAME).exists() and not args.overwrite:
        raise CliError(
            EXIT_USAGE, f"{os.fspath(plan_dir / planning.PLAN_NAME)!r} exists; pass -y/--overwrite"
        )
    try:
        probe(src, func="farm plan")
        clip = open_source(src, source=args.source)
    except (FileNotFoundError, SourceError) as exc:
        raise CliError(EXIT_INPUT, str(exc)) from None
    try:
        if not clip.fps.numerator:
            raise ValueError("farm plan: the source has a variable frame rate; farms need a constant one")
        start, stop = parse_frames(args.frames, clip.num_frames) if args.frames else (0, clip.num_frames)
        if args.chunks is not None and args.chunks < 1:
            raise ValueError(f"--chunks must be >= 1, got {args.chunks}")
        if args.chunks is None and args.chunk_seconds <= 0:
            raise ValueError(f"--chunk-seconds must be > 0, got {args.chunk_seconds}")
        model_path, model_sha = resolve_identity(settings)
        grey = planning.cut_luma(clip[start:stop], args.render_factor, args.fit)
    except (ValueError, vs.Error) as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    plan_dir.mkdir(parents=True, exist_ok=True)
    cuts = [c + start for c in planning.detect_cuts(grey, planning.SCENE_THRESHOLD)]
    fps = Fraction(clip.fps.numerator, clip.fps.denominator)
    length = (stop - start) / args.chunks if args.chunks else args.chunk_seconds * float(fps)
    chunks = planning.split(start, stop, length, cuts, args.temporal_radius)
    source = planning.source_identity(src) | {"frames": clip.num_frames}
    plan = planning.Plan(
        source=source,
        fps=(fps.numerator, fps.denominator),
        frames=(start, stop),
        settings=settings,
        model={"path": os.fspath(model_path), "sha256": model_sha},
        chunks=tuple(chunks),
        cuts=tuple(cuts),
    )
    path = plan.write(plan_dir, overwrite=args.overwrite)
    on_cut = sum(1 for c in chunks[1:] if c.start in set(cuts))
    log.info(
        "farm plan: %d frames in %d chunks (%d of %d boundaries on scene cuts, %d cuts found) -> %s",
        stop - start,
        len(chunks),
        on_cut,
        len(chunks) - 1,
        len(cuts),
        path,
    )
    return EXIT_OK


def _load(plan_dir: str) -> planning.Plan:
    try:
        return planning.load_plan(plan_dir)
    except planning.PlanError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None


def _chunk(args: argparse.Namespace) -> int:
    plan_dir = Path(args.plan_dir)
    plan = _load(args.plan_dir)
    try:
        k = args.index if args.index is not None else array_index(os.environ, args.index_base)
    except planning.PlanError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    if not 0 <= k < len(plan.chunks):
        raise CliError(
            EXIT_USAGE, f"farm chunk: index {k} is outside the plan's chunks 0..{len(plan.chunks) - 1}"
        )
    chunk = plan.chunks[k]
    progress = make_progress(args, chunk.frames, f"chunk {k}")
    try:
        render_chunk(plan_dir, plan, chunk, progress=progress.update)
    except planning.PlanError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    except (vs.Error, EncodeError, OSError) as exc:
        raise CliError(EXIT_FAILED, f"farm chunk {k} failed: {exc}") from None
    finally:
        progress.close()
    return EXIT_OK


def _concat(args: argparse.Namespace) -> int:
    plan = _load(args.plan_dir)
    try:
        concat(Path(args.plan_dir), plan, Path(args.output), overwrite=args.overwrite)
    except ChunksToRedo as exc:
        log.error("vs-colorize: error: %s", exc)
        raise CliError(EXIT_REDO, f"farm concat: nothing written; chunks to redo: {exc.indices}") from None
    except (av.FFmpegError, OSError) as exc:  # before ValueError: PyAV's errors subclass it
        if isinstance(exc, FileExistsError):
            raise CliError(EXIT_USAGE, str(exc)) from None
        raise CliError(EXIT_FAILED, f"farm concat failed: {exc}") from None
    except ValueError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from . import ray_run

    plan = _load(args.plan_dir)
    if args.local_workers is not None and args.local_workers < 1:
        raise CliError(EXIT_USAGE, f"--local-workers must be >= 1, got {args.local_workers}")
    if args.retries < 0 or args.cpus_per_worker < 1:
        raise CliError(EXIT_USAGE, "--retries must be >= 0 and --cpus-per-worker >= 1")
    try:
        ray_run.run(
            Path(args.plan_dir),
            plan,
            address=args.address,
            local_workers=args.local_workers,
            cpus_per_worker=args.cpus_per_worker,
            retries=args.retries,
            quiet=args.quiet,
        )
    except ray_run.RunFailed as exc:
        raise CliError(EXIT_FAILED, str(exc)) from None
    except ImportError as exc:
        raise CliError(EXIT_USAGE, f"farm run needs Ray: pip install 'vs-colorize[farm]' ({exc})") from None
    return _concat(args)


_STEPS: dict[str, Callable[[argparse.Namespace], int]] = {
    "plan": _plan,
    "chunk": _chunk,
    "concat": _concat,
    "run": _run,
}


def run(args: argparse.Namespace) -> int:
    """Run one ``farm`` step (a failure is a :class:`CliError` with its exit code)."""
    return _STEPS[args.farm_command](args)
