"""Exit codes and the one error type of the ``vs-colorize`` command line (see docs/cli.md).

0 done (or skipped with ``--skip-existing``), 1 the render failed, 2 the command is wrong (arguments,
an output that exists, is the input, is a directory or cannot be written, model, codec), 3 the input is
missing or unusable, 130 interrupted (SIGINT), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import errno
import logging
import os
import re

from ..io.outputs import free_space

log = logging.getLogger("vs_colorize")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INPUT = 0, 1, 2, 3
EXIT_REDO = 4  # farm concat: chunks missing or foreign; the list of chunks to redo is printed
EXIT_SIGINT, EXIT_SIGTERM = 130, 143


class CliError(Exception):
    """A failure with its exit code; the message is logged as the command's last word."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so cleanup runs exactly as for Ctrl-C."""


def cause(exc: BaseException) -> str:
    """The last line of an error's message: VapourSynth wraps a failure inside a frame request in the
    Python traceback of its callback, whose last line (``vapoursynth.Error: …``) says what went wrong."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    last = lines[-1] if lines else type(exc).__name__
    for prefix in ("vapoursynth.Error: ", "Error: "):
        if last.startswith(prefix):
            return last[len(prefix) :]
    return last


#: numpy's ``tofile`` (which tifffile writes with) reports a short write without an errno.
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")


def _no_space(exc: BaseException) -> bool:
    """ENOSPC/EDQUOT anywhere in the chain, FFmpeg's text for it, or numpy's short write."""
    seen: BaseException | None = exc
    while seen is not None:
        if getattr(seen, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(seen)
        if "No space left on device" in text or "quota exceeded" in text.lower() or _SHORT_WRITE.search(text):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def render_failed(
    command: str, exc: BaseException, *, output: str | os.PathLike[str], frame: int
) -> CliError:
    """The exit-1 error for a render that broke at ``frame``: one line (the full text at ``-v``)."""
    log.debug("%s: full error:\n%s", command, exc)
    out = os.fspath(output)
    if _no_space(exc):
        folder = os.path.dirname(os.path.abspath(out))
        return CliError(
            EXIT_FAILED,
            f"{command}: no space left on the device while writing {out!r} at frame {frame}: "
            f"{free_space(folder)} free in {folder!r} once the partial file was removed; nothing written",
        )
    return CliError(EXIT_FAILED, f"{command}: render of {out!r} failed at frame {frame}: {cause(exc)}")
