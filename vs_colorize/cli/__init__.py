"""``vs-colorize``: file-to-file renders from the command line (see docs/cli.md).

``main`` (:mod:`.main`) parses and dispatches; each subcommand lives in its own module (:mod:`.colorize`,
:mod:`.superres`, :mod:`.models`, :mod:`.probe`), errors and exit codes in :mod:`.errors`, shared options in :mod:`.common`.
"""

from .colorize import parse_frames
from .errors import EXIT_FAILED, EXIT_INPUT, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, EXIT_USAGE, CliError
from .main import main

__all__ = [
    "EXIT_FAILED",
    "EXIT_INPUT",
    "EXIT_OK",
    "EXIT_SIGINT",
    "EXIT_SIGTERM",
    "EXIT_USAGE",
    "CliError",
    "main",
    "parse_frames",
]
