"""``vs-colorize sheet BEFORE AFTER SHEET.png``: the before/after contact sheet of a render."""

from __future__ import annotations

import argparse
from typing import Any

import av

from ..core.cli_flags import add_command
from ..sheet import write_contact_sheet
from .common import add_run_flags, checked_outputs
from .errors import EXIT_INPUT, EXIT_OK, EXIT_USAGE, CliError


def register(sub: Any) -> None:
    s = add_command(
        sub,
        "sheet",
        "before/after contact sheet (PNG) of a film and its render",
        "A few frames of the source above the same frames of its colorized render, as one PNG.",
        "vs-colorize sheet film.mp4 film_color.mkv sheet.png",
        "vs-colorize sheet film.mp4 film_color.mkv sheet.png --frames 8 -y",
    )
    s.add_argument("before", help="the source film")
    s.add_argument("after", help="its colorized render (same frame count)")
    s.add_argument("output", help="the PNG to write")
    s.add_argument("--frames", type=int, default=4, help="frames to show, 1..16 (default 4)")
    add_run_flags(s)
    s.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.frames <= 16:
        raise CliError(EXIT_USAGE, f"--frames must be in 1..16, got {args.frames}")
    existing = checked_outputs([args.output], inputs=[args.before, args.after])
    if existing and not args.overwrite:
        raise CliError(EXIT_USAGE, f"output {args.output!r} exists; pass -y/--overwrite to replace it")
    try:
        write_contact_sheet(
            args.before, args.after, args.output, frames=args.frames, overwrite=args.overwrite
        )
    except (FileNotFoundError, av.FFmpegError, ValueError) as exc:
        raise CliError(EXIT_INPUT, str(exc)) from None
    return EXIT_OK
