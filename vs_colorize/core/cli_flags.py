"""The flags every command line of the project shares: ``--version``, ``-q/--quiet``, ``-v/--verbose``,
``--print-completion bash|zsh|tcsh`` (shell completion, by shtab), and the examples ending each ``--help``.

``vs-colorize``, ``vs-colorize-export`` and ``vs-colorize-train`` take them the same way: ``--version``
on the command, ``-q``/``-v`` before or after the subcommand. Standard library only (the training and
export command lines use it without VapourSynth).
"""

from __future__ import annotations

import argparse
import logging
from typing import TypedDict

__all__ = ["add_command", "add_common_flags", "add_completion", "command_parser", "examples", "log_level"]


class HelpEnding(TypedDict):
    epilog: str
    formatter_class: type[argparse.HelpFormatter]


def examples(*lines: str) -> HelpEnding:
    """``add_parser``/``ArgumentParser`` keywords that end ``--help`` with these example command lines."""
    return {
        "epilog": "examples:\n" + "\n".join(f"  {line}" for line in lines),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }


def add_completion(parser: argparse.ArgumentParser) -> None:
    """``--print-completion bash|zsh|tcsh``: print a completion script for the shell (shtab), then exit.

    ``eval "$(vs-colorize --print-completion bash)"`` in ``~/.bashrc``; where shtab is not installed the
    flag is simply absent.
    """
    try:
        import shtab
    except ImportError:
        return
    shtab.add_argument_to(parser, ["--print-completion"], help="print a shell completion script and exit")


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


def command_parser(prog: str, version: str, description: str, *example_lines: str) -> argparse.ArgumentParser:
    """The top-level parser of one of the project's commands: its description, the examples ending its
    ``--help``, ``--version``, ``-q``/``-v`` and ``--print-completion``."""
    parser = argparse.ArgumentParser(prog=prog, description=description, **examples(*example_lines))
    add_common_flags(parser, version=f"{prog} {version}")
    add_completion(parser)
    return parser


def add_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    description: str,
    *example_lines: str,
) -> argparse.ArgumentParser:
    """A subcommand's parser: ``summary`` in the command list, ``description`` atop its ``--help`` and the
    examples at its end."""
    return sub.add_parser(name, help=summary, description=description, **examples(*example_lines))
