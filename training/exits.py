"""Exit codes and shared checks of the training commands (``vs-colorize-train``, ``python -m vs_colorize.training.sr``).

The codes are vs-colorize's own (docs/cli.md): 0 done, 1 the run failed (an I/O error such as a full disk),
2 the command is wrong (arguments, an output folder that cannot be written, an unusable weights file),
3 the input is unusable (a run to resume whose ``config.json`` cannot be read).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["EXIT_FAILED", "EXIT_INPUT", "EXIT_OK", "EXIT_USAGE", "CommandError", "check_writable_dir"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INPUT = 0, 1, 2, 3


class CommandError(Exception):
    """A failure with its exit code; the message is the command's one-line last word."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_writable_dir(path: str | os.PathLike[str], where: str) -> Path:
    """Create ``path`` (and parents) if needed and prove a file can be written in it.

    Raises:
        CommandError: ``EXIT_USAGE`` naming ``where`` and the folder when it cannot be created or written
            (a file in the way, no permission, a read-only file system).
    """
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CommandError(EXIT_USAGE, f"{where} {os.fspath(out)!r} cannot be written ({reason})") from None
    return out
