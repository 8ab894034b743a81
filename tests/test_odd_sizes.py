"""Odd frame sizes just work from every entry point: the filter, the CLI and colorize.vpy.

4:2:0 cannot hold an odd width or height, so GRAY input of odd size comes out as 4:4:4 (even sizes stay
4:2:0); YUV input keeps its format. The source luma stays bit-identical either way.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import onnx_models as om
import pytest
import vapoursynth as vs
from test_vspipe import BIN, SCRIPT, vspipe_env  # noqa: F401 (fixture)

from vs_colorize import colorize
from vs_colorize.cli import EXIT_OK, main
from vs_colorize.io.source import open_source

core = vs.core
SIZES = [(75, 48), (76, 49), (75, 49)]
#: The real B&W photo of the bug report: 375x331, greyscale JPEG.
PHOTO = "bw_historical_photos/zhang_ansel_adams_tetons_snake_river.jpg"


@pytest.fixture(scope="module")
def tint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return om.tint(tmp_path_factory.mktemp("m") / "tint.onnx")


def _luma(clip: vs.VideoNode, n: int = 0) -> np.ndarray:
    return np.asarray(clip.get_frame(n)[0]).copy()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("fmt", [vs.GRAY8, vs.GRAY16, vs.GRAYS], ids=lambda f: core.get_video_format(f).name)
def test_gray_of_odd_size_becomes_444_with_its_luma(tint: Path, fmt: int, size: tuple[int, int]) -> None:
    src = om.noise_clip(fmt, *size, length=1)
    out = colorize(src, tint, render_factor=4)
    want = core.query_video_format(vs.YUV, src.format.sample_type, src.format.bits_per_sample, 0, 0)
    assert (out.format.id, out.width, out.height) == (want.id, *size)
    np.testing.assert_array_equal(_luma(out), _luma(src))


def test_gray_of_even_size_stays_420_and_420_can_still_be_forced(tint: Path) -> None:
    assert colorize(om.noise_clip(vs.GRAY8, 76, 48, length=1), tint, render_factor=4).format.id == vs.YUV420P8
    with pytest.raises(vs.Error, match=r"colorize: subsampling='420' needs an even frame size, got 75x49"):
        colorize(om.noise_clip(vs.GRAY8, 75, 49, length=1), tint, render_factor=4, subsampling="420")


@pytest.mark.parametrize(
    ("fmt", "size"),
    [(vs.YUV444P8, s) for s in SIZES] + [(vs.YUV444P16, (75, 49)), (vs.YUV422P8, (76, 49))],
    ids=lambda v: core.get_video_format(v).name if isinstance(v, int) else f"{v[0]}x{v[1]}",
)
def test_yuv_of_odd_size_keeps_format_and_luma(tint: Path, fmt: int, size: tuple[int, int]) -> None:
    src = om.noise_clip(fmt, *size, length=1)
    out = colorize(src, tint, render_factor=4)
    assert (out.format.id, out.width, out.height) == (fmt, *size)
    np.testing.assert_array_equal(_luma(out), _luma(src))


def _gray_png(path: Path, width: int, height: int) -> Path:
    img = (np.add.outer(np.arange(height), np.arange(width)) % 251).astype(np.uint8)
    with av.open(str(path), "w") as out:
        s = out.add_stream("png")
        s.width, s.height, s.pix_fmt = width, height, "gray"
        out.mux(s.encode(av.VideoFrame.from_ndarray(img, format="gray")))
        out.mux(s.encode(None))
    return path


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("ext", [".png", ".mkv", ".mp4"])
def test_cli_colorizes_odd_sized_grey_images(
    tmp_path: Path, tint: Path, size: tuple[int, int], ext: str
) -> None:
    src = _gray_png(tmp_path / "in.png", *size)
    out = tmp_path / f"out{ext}"
    codec = ["--codec", "ffv1"] if ext == ".mkv" else []
    assert (
        main(["colorize", str(src), str(out), "--model", str(tint), "--render-factor", "4", "-q", *codec])
        == 0
    )
    with av.open(str(out)) as c:
        frame = next(c.decode(video=0))
    assert (frame.width, frame.height) == size
    if ext == ".mkv":  # lossless: the Y plane is the source's grey, bit for bit
        np.testing.assert_array_equal(_luma(open_source(out)), _luma(open_source(src)))


def test_cli_colorizes_the_real_odd_sized_photo(tmp_path: Path, tint: Path, data_dir: Path) -> None:
    src, out = data_dir / PHOTO, tmp_path / "out.mkv"
    args = [
        "colorize",
        str(src),
        str(out),
        "--model",
        str(tint),
        "--render-factor",
        "4",
        "--codec",
        "ffv1",
        "-q",
    ]
    assert main(args) == EXIT_OK
    got, want = open_source(out), open_source(src)
    assert (got.width, got.height, got.format.id) == (375, 331, vs.YUV444P8)
    np.testing.assert_array_equal(_luma(got), _luma(want))


def test_vspipe_script_colorizes_an_odd_sized_grey_image(
    tmp_path: Path,
    tint: Path,
    vspipe_env: dict[str, str],  # noqa: F811 (fixture)
) -> None:
    src = _gray_png(tmp_path / "in.png", 75, 49)
    cmd = [str(BIN / "vspipe"), "-c", "y4m", str(SCRIPT), "-a", f"src={src}", "-a", f"model={tint}"]
    done = subprocess.run(
        [*cmd, "-a", "render_factor=4", "-"], env=vspipe_env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    header, _, body = done.stdout.partition(b"\n")
    assert b"W75 H49" in header and b"C444" in header
    y = np.frombuffer(body[6 : 6 + 75 * 49], np.uint8).reshape(49, 75)
    np.testing.assert_array_equal(y, _luma(open_source(src)))
