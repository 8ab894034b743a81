"""``vs-colorize``: the parser, the subcommand table and the run loop (also ``python -m vs_colorize``).

A subcommand is a module with ``register(subparsers)``: it adds its parser, its options (shared ones
from :mod:`.common`) and ``set_defaults(run=function)``, where ``function(args) -> int`` returns an exit
code or raises :class:`~.errors.CliError`. Adding one is adding its module to :data:`SUBCOMMANDS`.
Nothing is printed on stdout except by ``models`` and ``probe`` (reports); logs and the progress bar go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from types import FrameType

from .._version import __version__
from ..core.cli_flags import command_parser, log_level
from .errors import EXIT_FAILED, EXIT_SIGINT, EXIT_SIGTERM, CliError, Terminated

log = logging.getLogger("vs_colorize")

#: Modules that each add one subcommand (``register(subparsers)``), in ``--help`` order.
SUBCOMMANDS: tuple[str, ...] = (
    "vs_colorize.cli.colorize",
    "vs_colorize.cli.superres",
    "vs_colorize.cli.models",
    "vs_colorize.cli.sheet",
    "vs_colorize.cli.vpy",
    "vs_colorize.farm.cli",
    "vs_colorize.cli.probe",
)


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "vs-colorize",
        __version__,
        "DeOldify-style colorization for films and photos; microscopy super-resolution.",
        "vs-colorize colorize film.mp4 film_color.mkv",
        "vs-colorize colorize scan.tif scan_color.png --render-factor 35",
        "vs-colorize colorize film.mp4 - | ffmpeg -i - -c:v libx264 out.mp4",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(name).register(sub)
    return parser


@contextlib.contextmanager
def _logging(level: int) -> Iterator[None]:
    """Log the package to stderr for one command, then put the logger back as it was."""
    handler = logging.StreamHandler(sys.stderr)
    verbose = level <= logging.DEBUG
    handler.setFormatter(
        logging.Formatter("%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s")
    )
    saved = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.level, log.propagate = saved


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (``sys.exit(main())`` in the console script)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help/--version (0) or a usage error (2, already printed)
        return int(exc.code or 0)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        with _logging(log_level(args)):
            return _run(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.run(args))
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
