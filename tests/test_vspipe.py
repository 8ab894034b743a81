"""The vspipe path: scripts/colorize.vpy under vspipe, alone and piped into ffmpeg as docs/cli.md shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs
from onnx_models import tint
from test_encode import decode_all

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "colorize.vpy"
BIN = Path(sys.executable).parent
FILM = "bw_film_clips/a-bomb_blast_effects_part.mp4"


@pytest.fixture(scope="module")
def vspipe_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for vspipe: `vapoursynth config` run into a private XDG_CONFIG_HOME (feasibility §0)."""
    assert (BIN / "vspipe").exists(), (
        "vspipe is not installed next to this Python (the vapoursynth wheel ships it)"
    )
    xdg = tmp_path_factory.mktemp("xdg")
    env = os.environ | {"XDG_CONFIG_HOME": str(xdg), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([str(BIN / "vapoursynth"), "config"], env=env, check=True, capture_output=True)
    assert (xdg / "vapoursynth" / "vapoursynth.toml").is_file()
    # the package as if installed: vspipe does not put the script's directory on sys.path
    return env | {"PYTHONPATH": str(ROOT)}


def y4m_frames(data: bytes, width: int, height: int) -> list[np.ndarray]:
    """Split a 4:2:0 8-bit y4m stream into Y planes."""
    header, _, body = data.partition(b"\n")
    assert header.startswith(b"YUV4MPEG2") and f"W{width} H{height}".encode() in header
    size = width * height * 3 // 2
    frames, pos = [], 0
    while pos < len(body):
        assert body[pos : pos + 6] == b"FRAME\n"
        pos += 6
        frames.append(np.frombuffer(body[pos : pos + width * height], np.uint8).reshape(height, width))
        pos += size
    return frames


def test_vspipe_renders_the_script(tmp_path: Path, vspipe_env: dict[str, str], data_dir: Path) -> None:
    model = tint(tmp_path / "tint.onnx")
    film = data_dir / FILM
    args = ["-a", f"src={film}", "-a", f"model={model}", "-a", "render_factor=4", "-a", "frames=10:18"]
    cmd = [str(BIN / "vspipe"), "-c", "y4m", str(SCRIPT), *args, "-a", "show_tags=1", "-"]
    done = subprocess.run(cmd, env=vspipe_env, cwd=tmp_path, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert b"-colorspace smpte170m -color_range tv" in done.stderr
    frames = y4m_frames(done.stdout, 432, 320)
    assert len(frames) == 8
    src = vs.core.bs.VideoSource(str(film), cachemode=0, showprogress=0)
    for n, y in enumerate(frames):
        assert np.array_equal(y, np.asarray(src.get_frame(10 + n)[0]))
    info = subprocess.run(
        [str(BIN / "vspipe"), "--info", str(SCRIPT), *args], env=vspipe_env, capture_output=True, timeout=120
    )
    assert b"Frames: 8" in info.stdout and b"FPS: 29/1" in info.stdout


def test_vspipe_into_ffmpeg_with_colour_tags(
    tmp_path: Path, vspipe_env: dict[str, str], data_dir: Path, ffmpeg: str
) -> None:
    binary = ffmpeg
    model = tint(tmp_path / "tint.onnx")
    film = data_dir / FILM
    out = tmp_path / "out.mkv"
    tags = ["-colorspace", "smpte170m", "-color_range", "tv"]
    script = [str(BIN / "vspipe"), "-c", "y4m", str(SCRIPT), "-a", f"src={film}", "-a", f"model={model}"]
    script += ["-a", "render_factor=4", "-a", "frames=0:6", "-"]
    encode = [binary, "-v", "error", "-f", "yuv4mpegpipe", *tags, "-i", "-", "-i", str(film)]
    encode += ["-map", "0:v", "-map", "1:a?", "-c:v", "ffv1", *tags, "-c:a", "copy", str(out)]
    vspipe = subprocess.Popen(script, env=vspipe_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    done = subprocess.run(encode, stdin=vspipe.stdout, capture_output=True, timeout=120)
    vspipe.stdout.close()  # type: ignore[union-attr]
    assert vspipe.wait(timeout=60) == 0 and done.returncode == 0, done.stderr.decode()
    info, frames = decode_all(out)
    assert (len(frames), info["rate"], info["tags"]) == (6, 29, (6, 2, 2, 1))
    src = vs.core.bs.VideoSource(str(film), cachemode=0, showprogress=0)
    for n, frame in enumerate(frames):
        y = np.frombuffer(frame.planes[0], np.uint8).reshape(320, -1)[:, :432]
        assert np.array_equal(y, np.asarray(src.get_frame(n)[0]))
