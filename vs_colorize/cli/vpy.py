"""``vs-colorize vpy [OUT]``: the ``colorize.vpy`` template for ``vspipe … | ffmpeg …`` chains.

It ships inside the package (``vs_colorize/assets/colorize.vpy``), so a pip install has it too. Without
``OUT`` it goes to stdout (``vs-colorize vpy > colorize.vpy``); with ``OUT`` it is written atomically, never
over an existing file unless ``-y``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..core.cli_flags import add_command
from ..core.fileio import atomic_output
from .common import add_run_flags, checked_outputs, refuse_existing
from .errors import EXIT_OK

#: The template, as installed.
TEMPLATE = Path(__file__).resolve().parents[1] / "assets" / "colorize.vpy"


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "vpy",
        "print (or write) the colorize.vpy template for vspipe",
        "The VapourSynth script that runs the colorize pipeline under vspipe.",
        "vs-colorize vpy > colorize.vpy",
        "vspipe -c y4m colorize.vpy -a src=$PWD/film.mp4 - | ffmpeg -i - -c:v libx264 out.mp4",
        "vs-colorize vpy scripts/colorize.vpy -y",
    )
    p.add_argument("output", nargs="?", help="file to write (default: stdout)")
    add_run_flags(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    text = TEMPLATE.read_text()
    if args.output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return EXIT_OK
    existing = checked_outputs([args.output], inputs=[TEMPLATE])
    if not args.overwrite:
        refuse_existing(existing)
    with atomic_output(args.output, overwrite=args.overwrite) as tmp:
        tmp.write_text(text)
    return EXIT_OK
