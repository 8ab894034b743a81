"""The flags every command line of the project shares: ``--version``, ``-q/--quiet``, ``-v/--verbose``.

``vs-colorize``, ``vs-colorize-export`` and ``vs-colorize-train`` take them the same way: ``--version``
on the command, ``-q``/``-v`` before or after the subcommand. Standard library only (the training and
export command lines use it without VapourSynth).
"""

from __future__ import annotations

import argparse
import logging

__all__ = ["add_common_flags", "log_level"]


def add_common_flags(parser: argparse.ArgumentParser, *, version: str | None = None) -> None:
    """Add ``-q``/``-v`` (and ``--version`` when ``version`` is given: the top-level parser) to ``parser``.

    On a subcommand's parser (``version=None``) the flags default to "not given" (``SUPPRESS``), so a
    ``-q`` written before the subcommand is not reset by the subcommand's parser.
    """
    if version is not None:
        parser.add_argument("--version", action="version", version=version)
    default: object = False if version is not None else argparse.SUPPRESS
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="only warnings and errors on stderr"
    )
    group.add_argument("-v", "--verbose", action="store_true", default=default, help="debug logging")


def log_level(args: argparse.Namespace) -> int:
    """``DEBUG`` with ``-v`` (which wins), ``WARNING`` with ``-q``, else ``INFO``."""
    if getattr(args, "verbose", False):
        return logging.DEBUG
    return logging.WARNING if getattr(args, "quiet", False) else logging.INFO
