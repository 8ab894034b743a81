"""Options and checks every ``vs-colorize`` subcommand shares."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import vapoursynth as vs

from ..color_props import check_matrix
from ..core.cli_flags import add_common_flags
from ..io.outputs import OutputError, check_outputs
from ..progress import PROGRESS_MODES, Progress
from .errors import EXIT_INPUT, EXIT_USAGE, CliError


def add_run_flags(parser: argparse.ArgumentParser, *, skip_existing: bool = False) -> None:
    """``-y/--overwrite`` (and ``--skip-existing`` beside it), ``-q``, ``-v``."""
    over = parser.add_mutually_exclusive_group()
    over.add_argument("-y", "--overwrite", action="store_true", help="replace an existing output")
    if skip_existing:
        over.add_argument(
            "--skip-existing",
            action="store_true",
            help="exit 0 at once when the output exists (idempotent reruns)",
        )
    add_common_flags(parser)


def add_progress_flag(parser: argparse.ArgumentParser) -> None:
    """``--progress auto|bar|json|none`` (on stderr; ``json`` = one object per line for farm dashboards)."""
    parser.add_argument(
        "--progress",
        choices=PROGRESS_MODES,
        default="auto",
        help="progress on stderr: auto (a bar on a terminal), bar, json (one object per line), none",
    )


def make_progress(args: argparse.Namespace, total: int, label: str) -> Progress:
    """The progress reporter ``--progress`` (and ``-q``, which silences the bar, not JSON) asks for."""
    mode = getattr(args, "progress", "auto")
    if mode == "json":
        return Progress(total, label=label, json_lines=True)
    if mode == "none" or getattr(args, "quiet", False):
        return Progress(total, label=label, enabled=False)
    return Progress(total, label=label, enabled=True if mode == "bar" else None)


def checked_outputs(
    files: Sequence[str | os.PathLike[str]], *, inputs: Iterable[str | os.PathLike[str]]
) -> list[Path]:
    """:func:`vs_colorize.io.outputs.check_outputs` with its refusals as exit code 2."""
    try:
        return check_outputs(files, inputs=inputs)
    except OutputError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None


def refuse_existing(existing: Sequence[Path]) -> None:
    """Exit 2 naming the first existing output (and how many more) unless ``--overwrite`` was given."""
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise CliError(
            EXIT_USAGE, f"output {os.fspath(existing[0])!r}{more} exists; pass -y/--overwrite to replace it"
        )


def check_first_frame(clip: vs.VideoNode, command: str, src: str | os.PathLike[str]) -> None:
    """Decode the input's first frame once and refuse what would only fail at render time (exit 3)."""
    try:
        frame = clip.get_frame(0)
        if clip.format.color_family != vs.RGB:
            check_matrix(frame.props, command, 0)
    except vs.Error as exc:
        raise CliError(EXIT_INPUT, f"input {os.fspath(src)!r}: {exc}") from None
