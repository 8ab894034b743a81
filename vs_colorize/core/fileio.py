"""Atomic file output and content hashes. Pure Python: the runtime, ``export`` and ``training`` share it.

The final name of a file written here never holds a half-written file: data goes to a hidden ``.part``
beside it and is renamed into place only once complete and flushed to disk.
"""

from __future__ import annotations

import contextlib
import fcntl  # POSIX: the project runs on Linux (pyproject classifiers)
import hashlib
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


def _read_umask() -> int:
    """The process umask, read without changing it where Linux tells it (``/proc/self/status``)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    umask = os.umask(0o022)  # elsewhere: set and restore once, at import, before any worker thread
    os.umask(umask)
    return umask


#: The process umask at import: :func:`atomic_output` gives its files the mode ``0o666 & ~UMASK``, as a
#: plain ``open()`` would, without touching the umask while other threads create files.
UMASK = _read_umask()


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


#: A temporary file younger than this is never taken for stale: it may be between its creation and its
#: writer's lock (see :func:`clean_stale_parts`).
STALE_AFTER_S = 10.0


#: The temporary names :func:`atomic_output` makes: ``.NAME.<16 hex>.part`` plus the extension.
_PART = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{16}\.part(?P<ext>.*)")


def _try_lock(fd: int) -> bool:
    """Take an exclusive ``flock`` on ``fd`` without waiting; False when another process holds one"""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def clean_stale_parts(*paths: str | os.PathLike[str], suffix: str = "") -> list[Path]:
    """Delete temporary files of ``paths`` left by writers that died (``kill -9``, power cut); return them.

    Only names :func:`atomic_output` makes for these very outputs are considered (``.NAME.<16 hex>.part``
    plus the extension, ``suffix`` or the output's own), and only those no live process holds: every
    writer keeps an exclusive ``flock`` on its temporary file until it is renamed or deleted, and the
    kernel drops the lock when the writer dies, however it dies. Files younger than
    :data:`STALE_AFTER_S` are left alone. Each folder is listed once, however many outputs it holds.
    """
    wanted: dict[Path, set[str]] = {}
    for p in map(Path, paths):
        wanted.setdefault(p.parent, set()).add(p.name)
    removed: list[Path] = []
    for folder, names in wanted.items():
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            m = _PART.fullmatch(entry)
            if m is None or m["name"] not in names or m["ext"] != (suffix or Path(m["name"]).suffix):
                continue
            if _remove_if_stale(folder / entry):
                removed.append(folder / entry)
    return removed


def _remove_if_stale(part: Path) -> bool:
    try:
        fd = os.open(part, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        if time.time() - os.fstat(fd).st_mtime < STALE_AFTER_S or not _try_lock(fd):
            return False
        part.unlink(missing_ok=True)
    finally:
        os.close(fd)
    log.warning("removed %s, a partial file left by an interrupted earlier run", part)
    return True


def _new_part(final: Path, suffix: str) -> tuple[Path, int]:
    """Create and lock a fresh temporary file beside ``final``; return it and its open descriptor."""
    while True:
        tmp = final.parent / f".{final.name}.{secrets.token_hex(8)}.part{suffix}"
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            continue
        _try_lock(fd)  # a brand-new name: nobody else can hold it
        return tmp, fd


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    suffix: str = "",
    clean: bool = True,
    mode: int | None = None,
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it into place, on error delete it.

    The final name never holds a half-written file. Refuses to replace an existing file unless
    ``overwrite``. ``suffix`` keeps the temporary name's extension (muxers pick formats from it).
    The temporary file (``.NAME.<16 hex>.part.EXT``) stays ``flock``-ed by this process while it is
    written, and stale ones of the same output left by killed writers are deleted first
    (:func:`clean_stale_parts`; ``clean=False`` when the caller already did, e.g. once for a whole
    image sequence). The result gets the permissions a plain ``open()`` would give it, or ``mode`` (still
    masked by the umask), set before it takes the final name.
    """
    # the steps live in an undecorated generator: mutation testing (mutmut skips decorated functions) reaches it
    yield from _write_through_part(Path(path), overwrite, suffix, clean, mode)


def _write_through_part(
    final: Path, overwrite: bool, suffix: str, clean: bool, mode: int | None
) -> Iterator[Path]:
    if final.exists() and not overwrite:
        raise FileExistsError(f"{os.fspath(final)!r} exists; pass overwrite to replace it")
    final.parent.mkdir(parents=True, exist_ok=True)
    ext = suffix or final.suffix
    if clean:
        clean_stale_parts(final, suffix=ext)
    tmp, fd = _new_part(final, ext)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        # The file is created 0600; give the result the permissions a plain open() would have (or ``mode``).
        os.chmod(tmp, (0o666 if mode is None else mode) & ~UMASK)
        if final.exists() and not overwrite:
            raise FileExistsError(f"{os.fspath(final)!r} appeared while writing; not replacing it")
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)  # releases the lock


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write a small text file (JSON, a report) through :func:`atomic_output`, replacing any old one."""
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(text)
    return Path(path)
