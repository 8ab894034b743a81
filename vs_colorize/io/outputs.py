"""The output-safety check every command runs before it renders anything.

An output is refused when it is one of the inputs however its path is spelled (relative, ``..``, a
symlink or a hard link: existing files are compared by device and inode, not-yet-existing ones by their
resolved path), when it is an existing directory, when its folder is missing (never created silently)
or when the folder does not take a new file (probed by creating an unnamed temporary file there, which
also catches read-only file systems and ACLs that ``os.access`` misses). Whether an existing output may
be replaced (``--overwrite``) or skipped is the caller's decision; this module only says what exists.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["OutputError", "check_folder", "check_outputs", "free_space", "same_file"]


class OutputError(ValueError):
    """An output path that must not be written (the command is wrong: exit code 2)."""


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether ``a`` and ``b`` name one file: same device and inode when both exist (this sees hard
    links and symlinks), else the same fully resolved path."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def check_folder(folder: str | os.PathLike[str]) -> None:
    """Raise :class:`OutputError` unless ``folder`` exists, is a directory and takes a new file."""
    d = Path(folder)
    if not d.is_dir():
        what = "is not a directory" if d.exists() else "does not exist (create it first)"
        raise OutputError(f"output folder {os.fspath(d)!r} {what}")
    try:
        with tempfile.TemporaryFile(dir=d):  # O_TMPFILE on Linux: no name ever appears in the folder
            pass
    except OSError as exc:
        raise OutputError(f"output folder {os.fspath(d)!r} is not writable: {exc.strerror or exc}") from exc


def check_outputs(
    files: Sequence[str | os.PathLike[str]], *, inputs: Iterable[str | os.PathLike[str]] = ()
) -> list[Path]:
    """Check every file a command will write; return those that already exist (in order).

    Raises :class:`OutputError` when a file is one of ``inputs``, is a directory, or its folder is
    missing or not writable (each folder is probed once).
    """
    sources = [Path(p) for p in inputs]
    folders: set[Path] = set()
    existing: list[Path] = []
    for f in map(Path, files):
        for src in sources:
            if same_file(f, src):
                how = "" if os.fspath(f) == os.fspath(src) else f" ({os.fspath(src)!r} by another name)"
                raise OutputError(f"output {os.fspath(f)!r} is the input file{how}")
        if f.is_dir():
            raise OutputError(f"output {os.fspath(f)!r} is an existing directory; name a file")
        folder = f.parent
        if folder not in folders:
            check_folder(folder)
            folders.add(folder)
        if f.exists() or f.is_symlink():
            existing.append(f)
    return existing


def free_space(path: str | os.PathLike[str]) -> str:
    """Free space on the file system holding ``path`` (or its nearest existing parent), for messages."""
    p = Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        free = float(shutil.disk_usage(p).free)
    except OSError:
        return "unknown"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if free < 1024 or unit == "TiB":
            return f"{free:.0f} {unit}" if unit == "B" else f"{free:.1f} {unit}"
        free /= 1024
    return "unknown"
