"""The vspipe path: colorize.vpy under vspipe, alone and piped into ffmpeg as docs/cli.md shows."""

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
SCRIPT = ROOT / "vs_colorize" / "assets" / "colorize.vpy"
BIN = Path(sys.executable).parent


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


def test_vspipe_renders_the_script(tmp_path: Path, vspipe_env: dict[str, str], film: Path) -> None:
    model = tint(tmp_path / "tint.onnx")
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
    tmp_path: Path, vspipe_env: dict[str, str], film: Path, ffmpeg: str
) -> None:
    binary = ffmpeg
    model = tint(tmp_path / "tint.onnx")
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


def tiny_film(path: Path, frames: int = 6) -> Path:
    """A 64×48 grey ramp film (ffv1 in Matroska)."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for n in range(frames):
            grey = np.full((48, 64), 16 + 30 * n, np.uint8)
            frame = av.VideoFrame.from_ndarray(np.stack([grey] * 3, axis=-1), format="rgb24")
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
        out.mux(stream.encode())
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rendr_factor=4"], "colorize.vpy: unknown argument -a rendr_factor=…; did you mean render_factor?"),
        (["modle=video"], "colorize.vpy: unknown argument -a modle=…; did you mean model?"),
        (["render_factor=abc"], "colorize.vpy: -a render_factor='abc': expected an integer"),
        (["render_factor=4.5"], "colorize.vpy: -a render_factor='4.5': expected an integer"),
        (
            ["show_tags=maybe"],
            "colorize.vpy: -a show_tags='maybe': expected 1/0, true/false, yes/no or on/off",
        ),
        (["frames=5"], "colorize.vpy: -a frames='5': "),
        (["render_factor=3"], "colorize: render_factor must be 4..64, got 3"),
    ],
)
def test_vspipe_script_checks_its_arguments(
    tmp_path: Path, vspipe_env: dict[str, str], args: list[str], message: str
) -> None:
    film = tiny_film(tmp_path / "in.mkv")
    model = tint(tmp_path / "tint.onnx")
    extra = [x for a in [f"src={film}", f"model={model}", *args] for x in ("-a", a)]
    done = subprocess.run(
        [str(BIN / "vspipe"), "--info", str(SCRIPT), *extra], env=vspipe_env, capture_output=True, timeout=120
    )
    err = done.stderr.decode()
    assert done.returncode != 0 and done.stdout == b"", err
    assert f"Python exception: {message}" in err, err


def test_vspipe_script_needs_src_and_converts_flags(tmp_path: Path, vspipe_env: dict[str, str]) -> None:
    base = [str(BIN / "vspipe"), "--info", str(SCRIPT)]
    done = subprocess.run(base, env=vspipe_env, capture_output=True, timeout=120)
    assert done.returncode != 0 and "colorize.vpy: pass -a src=… (required)" in done.stderr.decode()
    film, model = tiny_film(tmp_path / "in.mkv"), tint(tmp_path / "tint.onnx")
    args = [f"src={film}", f"model={model}", "render_factor=4", "frames=1:5", "show_tags=yes"]
    done = subprocess.run(
        [*base, *(x for a in args for x in ("-a", a))], env=vspipe_env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b"Frames: 4" in done.stdout and b"-color_range" in done.stderr  # show_tags=yes is on
