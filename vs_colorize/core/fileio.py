"""Atomic file output and content hashes. Pure Python: the runtime, ``export`` and ``training`` share it.

The final name of a file written here never holds a half-written file: data goes to a hidden ``.part``
beside it and is renamed into place only once complete and flushed to disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


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


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike[str], *, overwrite: bool = False, suffix: str = ""
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it into place, on error delete it.

    The final name never holds a half-written file. Refuses to replace an existing file unless
    ``overwrite``. ``suffix`` keeps the temporary name's extension (muxers pick formats from it).
    """
    final = Path(path)
    if final.exists() and not overwrite:
        raise FileExistsError(f"{os.fspath(final)!r} exists; pass overwrite to replace it")
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final.name}.", suffix=".part" + (suffix or final.suffix), dir=final.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; give the result the permissions a plain open() would have.
        os.chmod(tmp, 0o666 & ~UMASK)
        if final.exists() and not overwrite:
            raise FileExistsError(f"{os.fspath(final)!r} appeared while writing; not replacing it")
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write a small text file (JSON, a report) through :func:`atomic_output`, replacing any old one."""
    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(text)
    return Path(path)
