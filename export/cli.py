"""``vs-colorize-export``: checkpoints → ONNX/.pt2 artifacts, DeOldify weights, TensorRT engines, parity.

Subcommands: ``onnx``, ``deoldify``, ``engine``, ``verify``, ``superres``, ``bioimageio`` (``--help`` on each). Progress and logs go to
stderr; stdout carries only what a subcommand prints as its result (``engine`` prints the engine path,
``verify --json`` the report).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TextIO

from vs_colorize._version import __version__
from vs_colorize.core.cli_flags import add_common_flags, command_parser, log_level
from vs_colorize.core.contract import ContractError

from .errors import ExportError, ParityError

if TYPE_CHECKING:
    from vs_colorize.training.archs import UnetGenerator

log = logging.getLogger("export")


def _parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "vs-colorize-export",
        __version__,
        "Export generators to ONNX/.pt2, import DeOldify weights, build TensorRT engines, check parity.",
        "vs-colorize-export deoldify video                      # DeOldify's weights -> the model registry",
        "vs-colorize-export onnx --checkpoint run/pick/best --dynamic 64 1024 --out gen.onnx",
        "vs-colorize-export bioimageio pssr3.onnx pssr3.zip      # a BioImage Model Zoo package",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("onnx", help="export a generator checkpoint to ONNX (or .pt2)")
    p.add_argument("--checkpoint", required=True, help="our generator checkpoint or a DeOldify *_gen.pth")
    p.add_argument("--name", help="architecture preset for DeOldify files (video, stable, artistic)")
    p.add_argument("--out", required=True, help="output .onnx (or .pt2 with --pt2)")
    size = p.add_mutually_exclusive_group()
    size.add_argument(
        "--render-size",
        type=int,
        nargs="+",
        metavar="N",
        default=[336],
        help="static side, or H W (default 336)",
    )
    size.add_argument("--dynamic", type=int, nargs=2, metavar=("MIN", "MAX"), help="dynamic side range")
    p.add_argument("--fp16", action="store_true", help="float16 weights/compute, float32 input/output")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    p.add_argument("--pt2", action="store_true", help="write a torch.export .pt2 program instead of ONNX")
    p.add_argument(
        "--align-channels",
        type=int,
        metavar="N",
        help="zero-pad the full-resolution merge to a multiple of N channels (8: fp16 tensor cores); same output",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--no-check", action="store_true", help="skip the parity check (not recommended)")
    p.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads for the parity check")

    d = sub.add_parser("deoldify", help="download/import DeOldify weights and export registry ONNX")
    d.add_argument("name", choices=("video", "stable", "artistic"))
    d.add_argument("--weights", help="use this local *_gen.pth instead of downloading")
    d.add_argument("--render-range", type=int, nargs=2, metavar=("MIN", "MAX"), default=[64, 1024])
    d.add_argument("--precision", nargs="+", choices=("fp32", "fp16"), default=["fp32", "fp16"])
    d.add_argument("--overwrite", action="store_true", help="replace existing registry artifacts")
    d.add_argument("--pt2", action="store_true", help="also write the fp32 .pt2 for the torch backend")
    d.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads for the parity check")

    e = sub.add_parser("engine", help="build a TensorRT engine for an ONNX artifact (needs tensorrt + GPU)")
    e.add_argument("onnx", help="the .onnx artifact")
    e.add_argument("--opt-size", type=int, default=336, help="side TensorRT tunes for (default 336)")
    e.add_argument("--max-batch", type=int, default=1, help="largest batch (default 1)")
    e.add_argument("--fp32", action="store_true", help="no float16 kernels")
    e.add_argument("--workspace", type=float, default=4, help="builder workspace in GiB (default 4)")
    e.add_argument("--cache-dir", help="engine folder (default <cache>/engines)")
    e.add_argument("--device", type=int, default=0, help="CUDA device id")

    s = sub.add_parser("superres", help="export a microscopy SR checkpoint (vs_colorize.training.sr) to ONNX")
    s.add_argument("checkpoint", help="vs_colorize.training.sr checkpoint.pt")
    s.add_argument("output", help="output .onnx")
    s.add_argument("--dynamic", type=int, nargs=2, metavar=("MIN", "MAX"), help="dynamic LR side range")
    s.add_argument("--static", type=int, metavar="SIDE", help="export a static SIDE×SIDE graph instead")
    s.add_argument("--fp16", action="store_true", help="float16 weights/compute, float32 input/output")
    s.add_argument("--overwrite", action="store_true", help="replace an existing output")

    b = sub.add_parser("bioimageio", help="package a superres model for the BioImage Model Zoo (zip)")
    b.add_argument("model", help="a superres .onnx artifact, or an SR training checkpoint (exported first)")
    b.add_argument("output", help="output .zip")
    b.add_argument("--name", help="the model's name in the zoo")
    b.add_argument("--author", action="append", dest="authors", metavar="NAME", help="author (repeatable)")
    b.add_argument("--license", default="MIT", help="SPDX licence of the weights (default MIT)")
    b.add_argument("--input-dtype", choices=("uint8", "uint16", "float32"), default="uint16")
    b.add_argument("--overwrite", action="store_true", help="replace an existing output")

    v = sub.add_parser("verify", help="parity of an artifact against its checkpoint (ONNX Runtime / torch)")
    v.add_argument("artifact", help=".onnx or .pt2 file")
    v.add_argument("--checkpoint", required=True, help="the checkpoint it was exported from")
    v.add_argument("--name", help="architecture preset for DeOldify files")
    v.add_argument("--tolerance", type=float, help="max abs error (default 1e-4 fp32, 1e-2 fp16)")
    v.add_argument("--threads", type=int, default=2)
    v.add_argument("--json", action="store_true", help="print the report on stdout")
    for command in sub.choices.values():
        add_common_flags(command)
    return parser


def _load(checkpoint: str, name: str | None) -> UnetGenerator:
    from vs_colorize.training.checkpoint import CheckpointError, load_generator

    try:
        return load_generator(checkpoint, name, identify=True)
    except CheckpointError as exc:
        raise ExportError(str(exc)) from exc


def _cmd_onnx(args: argparse.Namespace) -> int:
    model = _load(args.checkpoint, args.name)
    sizes = args.render_size
    if len(sizes) > 2:
        raise ExportError(f"onnx: --render-size takes N or H W, got {len(sizes)} values")
    kwargs = {
        "render_size": sizes[0] if len(sizes) == 1 else (sizes[0], sizes[1]),
        "dynamic": tuple(args.dynamic) if args.dynamic else None,
        "fp16": args.fp16,
        "arch": args.name,
        "overwrite": args.overwrite,
        "check": not args.no_check,
        "align_channels": args.align_channels,
    }
    if args.pt2:
        from .pt2 import to_pt2

        to_pt2(model, args.out, **kwargs)
    else:
        from .onnx import to_onnx

        to_onnx(model, args.out, opset=args.opset, threads=args.threads, **kwargs)
    return 0


def _cmd_superres(args: argparse.Namespace) -> int:
    from .sr import DEFAULT_DYNAMIC, export_checkpoint

    if args.static and args.dynamic:
        raise ExportError("superres: --static and --dynamic are exclusive")
    info = export_checkpoint(
        args.checkpoint,
        args.output,
        dynamic=None if args.static else tuple(args.dynamic or DEFAULT_DYNAMIC),
        size=args.static or 64,
        fp16=args.fp16,
        overwrite=args.overwrite,
    )
    logging.getLogger("export").info(
        "superres: wrote %s (scale %d, window %d)", args.output, info.scale, info.window
    )
    return 0


def _cmd_bioimageio(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from .bioimageio import package
    from .sr import export_checkpoint

    def write(model: Path) -> None:
        package(
            model,
            args.output,
            name=args.name,
            authors=tuple(args.authors or ("vs-colorize developers",)),
            license=args.license,
            input_dtype=args.input_dtype,
            overwrite=args.overwrite,
        )

    if Path(args.model).suffix == ".onnx":
        write(Path(args.model))
        return 0
    with tempfile.TemporaryDirectory(prefix="bioimageio-") as tmp:  # a checkpoint: export it first
        onnx = Path(tmp) / "model.onnx"
        export_checkpoint(args.model, onnx)
        write(onnx)
    return 0


def _cmd_deoldify(args: argparse.Namespace) -> int:
    from .deoldify import export_deoldify

    for path in export_deoldify(
        args.name,
        weights=args.weights,
        render_range=tuple(args.render_range),
        precisions=tuple(dict.fromkeys(args.precision)),
        overwrite=args.overwrite,
        threads=args.threads,
        pt2=args.pt2,
    ):
        log.info("registry model ready: %s", path)
    return 0


def _cmd_engine(args: argparse.Namespace) -> int:
    from vs_colorize.trt_engine import TRTError

    from .trt import build

    try:
        path = build(
            args.onnx,
            opt_size=args.opt_size,
            max_batch=args.max_batch,
            fp16=not args.fp32,
            workspace_gib=args.workspace,
            cache_dir=args.cache_dir,
            device_id=args.device,
        )
    except TRTError as exc:
        raise ExportError(str(exc)) from exc
    print(path)
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from .parity import verify

    model = _load(args.checkpoint, args.name)
    report = verify(args.artifact, model, tolerance=args.tolerance, threads=args.threads)
    if args.json:
        print(report.to_json())
    verdict = "PASS" if report.passed else "FAIL"
    log.info(
        "%s: %s, max abs error %.3g (tolerance %g)", args.artifact, verdict, report.max_abs, report.tolerance
    )
    return 0 if report.passed else 1


class _CLIHandler(logging.StreamHandler[TextIO]):
    """Logs to whatever ``sys.stderr`` is at the time of the call (tests and callers may swap it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


@contextlib.contextmanager
def _logging(level: int) -> Iterator[None]:
    """Our loggers to stderr at ``level`` while the command runs; the process's logging as it was afterwards
    (the command may run inside another program, or after another command in the same process)."""
    saved = []
    for name in ("export", "training", "vs_colorize"):
        logger = logging.getLogger(name)
        handler = _CLIHandler()
        saved.append((logger, handler, logger.level, logger.propagate))
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    try:
        yield
    finally:
        for logger, handler, old_level, old_propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(old_level)
            logger.propagate = old_propagate


COMMANDS = {
    "onnx": _cmd_onnx,
    "deoldify": _cmd_deoldify,
    "engine": _cmd_engine,
    "verify": _cmd_verify,
    "superres": _cmd_superres,
    "bioimageio": _cmd_bioimageio,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vs-colorize-export``; returns the process exit status (0 ok, 1 failed, 2 error)."""
    args = _parser().parse_args(argv)
    with _logging(log_level(args)):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return COMMANDS[args.command](args)
    except ParityError as exc:
        print(f"vs-colorize-export {args.command}: parity failed: {exc}", file=sys.stderr)
        return 1
    except (ExportError, ContractError, FileExistsError, FileNotFoundError, ValueError) as exc:
        print(f"vs-colorize-export {args.command}: error: {exc}", file=sys.stderr)
        return 2
