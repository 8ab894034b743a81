"""``atomic_output``'s temporary files: a writer killed with SIGKILL leaves one, the next write of the same
output removes it, and nothing else is ever removed (a live writer's part, a fresh part, other outputs'
parts, the user's own files)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vs_colorize.core import fileio

WRITER = """
import sys, time
from vs_colorize.core.fileio import atomic_output
with atomic_output(sys.argv[1]) as tmp:
    tmp.write_bytes(b"half")
    print(tmp, flush=True)
    time.sleep(60)
"""


def _writer(out: Path) -> tuple[subprocess.Popen[str], Path]:
    """A process inside ``atomic_output(out)``; returns it and its temporary file."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(out)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    part = Path(proc.stdout.readline().strip())
    assert part.is_file() and part.parent == out.parent
    return proc, part


def _age(path: Path, seconds: float = 3600) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_part_of_a_killed_writer_is_removed_by_the_next_write(tmp_path: Path) -> None:
    out = tmp_path / "film.mkv"
    proc, part = _writer(out)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert part.is_file() and part.name.startswith(".film.mkv.") and part.name.endswith(".part.mkv")
    _age(part)
    with fileio.atomic_output(out) as tmp:
        tmp.write_bytes(b"done")
    assert out.read_bytes() == b"done"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mkv"]


def test_a_live_writers_part_is_kept_however_old(tmp_path: Path) -> None:
    out = tmp_path / "film.mkv"
    proc, part = _writer(out)
    try:
        _age(part)
        assert fileio.clean_stale_parts(out) == []
        with fileio.atomic_output(out) as tmp:  # a second writer of the same output (its own part)
            tmp.write_bytes(b"other")
        assert part.read_bytes() == b"half"
    finally:
        proc.kill()
        proc.wait()


def test_only_stale_parts_of_this_output_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "film.mkv"
    keep = [
        tmp_path
        / ".film.mkv.0123456789abcdef.part.mkv",  # ours but fresh: its writer may not hold the lock yet
        tmp_path / ".film.mkv.x.mkv.0123456789abcdef.part.mkv",  # another output's part
        tmp_path / ".film.mkv.notes.part.txt",  # a user's file that merely looks alike
        tmp_path / ".film2.mkv.0123456789abcdef.part.mkv",
        tmp_path / ".film.mkv.0123456789abcdef.part.mp4",  # another extension
    ]
    stale = tmp_path / ".film.mkv.fedcba9876543210.part.mkv"
    for p in [*keep, stale]:
        p.write_bytes(b"x")
    for p in [*keep[1:], stale]:
        _age(p)
    assert fileio.clean_stale_parts(out) == [stale]
    assert all(p.exists() for p in keep) and not stale.exists()


def test_a_stale_part_removed_by_a_racing_cleaner_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers of one output start at once (a farm task and its retry): both find the same stale part, and
    the other one deletes it between this one's open and its lock. Neither may fail for that."""
    out = tmp_path / "film.mkv"
    stale = tmp_path / ".film.mkv.fedcba9876543210.part.mkv"
    stale.write_bytes(b"x")
    _age(stale)
    lock = fileio._try_lock

    def other_cleaner_first(fd: int) -> bool:
        stale.unlink(missing_ok=True)
        return lock(fd)

    monkeypatch.setattr(fileio, "_try_lock", other_cleaner_first)
    with fileio.atomic_output(out) as tmp:
        tmp.write_bytes(b"done")
    assert out.read_bytes() == b"done"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mkv"]


def test_the_writer_holds_a_lock_on_its_part(tmp_path: Path) -> None:
    import fcntl

    with fileio.atomic_output(tmp_path / "a.png") as tmp:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        tmp.write_bytes(b"png")
    assert (tmp_path / "a.png").read_bytes() == b"png"


def test_a_sequence_render_removes_stale_parts_of_its_images(tmp_path: Path) -> None:
    import onnx_models as om
    from test_output_safety import _gray_video

    from vs_colorize.cli import main

    src, model = _gray_video(tmp_path / "in.mkv"), om.tint(tmp_path / "tint.onnx")
    stale = tmp_path / ".out_000001.png.00112233aabbccdd.part.png"
    other = tmp_path / ".out_000009.png.00112233aabbccdd.part.png"  # not a frame of this render
    for p in (stale, other):
        p.write_bytes(b"x")
        _age(p)
    args = [
        "colorize",
        str(src),
        str(tmp_path / "out_%06d.png"),
        "--model",
        str(model),
        "--render-factor",
        "4",
    ]
    assert main([*args, "-q"]) == 0
    assert not stale.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.glob("out_*.png")) == [f"out_00000{i}.png" for i in range(3)]
