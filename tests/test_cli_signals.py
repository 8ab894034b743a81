"""The CLI as a process: Ctrl-C / SIGTERM mid-render leave nothing behind; the progress bar is drawn on
a terminal only."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from onnx_models import slow
from test_cli import ROOT, leftovers, model

from vs_colorize.cli import EXIT_OK

__all__ = ["model"]  # a fixture shared with test_cli


@pytest.mark.parametrize(
    ("sig", "code", "encoder"),
    [(signal.SIGINT, 130, "pyav"), (signal.SIGTERM, 143, "pyav"), (signal.SIGINT, 130, "ffmpeg")],
)
def test_interrupted_render_leaves_nothing(
    tmp_path: Path, film: Path, sig: int, code: int, encoder: str, request: pytest.FixtureRequest
) -> None:
    # A model slow enough (≈0.4 s a frame at render factor 8 on one core; the CPU default runs two streams) that
    # the render is still running when the signal arrives, however fast the machine; the signal is sent as soon as
    # output bytes exist. Only the time until the signal is spent, so a slower model costs nothing.
    model = slow(tmp_path / "models" / "slow.onnx", kernel=127)
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    if encoder == "ffmpeg":
        binary = request.getfixturevalue("ffmpeg")
        (tmp_path / "bin").mkdir()
        (tmp_path / "bin" / "ffmpeg").symlink_to(binary)
        env["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{env['PATH']}"
    out = tmp_path / "out.mkv"
    cmd = [
        sys.executable,
        "-m",
        "vs_colorize",
        "colorize",
        film,
        out,
        "--model",
        model,
        "--render-factor",
        "8",
    ]
    cmd += ["--codec", "ffv1", "--encoder", encoder]
    proc = subprocess.Popen(
        [str(c) for c in cmd], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while not any(p.stat().st_size > 0 for p in tmp_path.glob(".out.mkv.*.part.mkv")):
        assert proc.poll() is None, proc.communicate()[1].decode()
        assert time.monotonic() < deadline, "the render never started"
        time.sleep(0.05)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr.decode()
    assert stdout == b""
    assert not out.exists() and leftovers(tmp_path) == []
    assert b"no output written" in stderr


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_bar_only_on_a_terminal(tmp_path: Path, film: Path, model: Path, quiet: bool) -> None:
    leader, follower = pty.openpty()
    cmd = [sys.executable, "-m", "vs_colorize", "colorize", film, tmp_path / "out.mkv", "--model", model]
    cmd += ["--render-factor", "4", "--codec", "ffv1", "--frames", "0:12"] + (["-q"] if quiet else [])
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [str(c) for c in cmd], env=env, stdout=subprocess.PIPE, stderr=follower, timeout=120
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO once the terminal is drained
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    terminal = b"".join(chunks).decode()
    assert proc.returncode == EXIT_OK and proc.stdout == b""
    if quiet:
        assert terminal == ""
    else:
        assert "colorize [########################] 12/12 100%" in terminal and "fps ETA" in terminal
        assert "12 frames in" in terminal  # the summary line after the bar
