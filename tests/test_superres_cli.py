"""``vs-colorize superres`` (vs_colorize.superres_cli): TIFF stacks and videos end to end, exit codes."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import tifffile
from test_superres import sr_model

from vs_colorize.cli import main as cli_main


def main(argv: list[str]) -> int:
    return cli_main(["superres", *argv])


def up(a: np.ndarray, s: int = 2) -> np.ndarray:
    return a.repeat(s, axis=-2).repeat(s, axis=-1)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_tiff_stack_in_tiff_stack_out(tmp_path: Path, dtype: type) -> None:
    model = sr_model(tmp_path / "m.onnx")
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        data = rng.integers(0, np.iinfo(dtype).max, (3, 20, 30), dtype=dtype)
    else:
        data = rng.random((3, 20, 30), dtype=dtype)
    tifffile.imwrite(tmp_path / "in.tif", data, photometric="minisblack")
    assert main([str(tmp_path / "in.tif"), str(tmp_path / "out.tif"), "--model", str(model)]) == 0
    out = tifffile.imread(tmp_path / "out.tif")
    assert out.dtype == data.dtype
    np.testing.assert_array_equal(out, up(data))


def test_rgb_tiff_needs_a_channel(tmp_path: Path) -> None:
    model = sr_model(tmp_path / "m.onnx")
    rgb = np.random.default_rng(1).integers(0, 255, (2, 16, 16, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    assert main([str(tmp_path / "rgb.tif"), str(tmp_path / "o.tif"), "--model", str(model)]) == 3
    args = [str(tmp_path / "rgb.tif"), str(tmp_path / "o.tif"), "--model", str(model), "--channel", "1"]
    assert main(args) == 0
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "o.tif"), up(rgb[..., 1]))


def test_video_in_lossless_video_out(tmp_path: Path) -> None:
    model = sr_model(tmp_path / "m.onnx", scale=4)
    frames = np.random.default_rng(2).integers(0, 255, (3, 16, 24), dtype=np.uint8)
    src = tmp_path / "in.mkv"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("ffv1", rate=5)
        stream.width, stream.height, stream.pix_fmt = 24, 16, "gray"
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="gray")))
        out.mux(stream.encode())
    dst = tmp_path / "out.mkv"
    assert main([str(src), str(dst), "--model", str(model), "--tile", "8", "--overlap", "4"]) == 0
    with av.open(str(dst)) as container:
        got = np.stack([f.to_ndarray() for f in container.decode(video=0)])
    np.testing.assert_array_equal(got, up(frames, 4))


def test_exit_codes(tmp_path: Path) -> None:
    model = sr_model(tmp_path / "m.onnx")
    tifffile.imwrite(tmp_path / "in.tif", np.zeros((3, 8, 8), np.uint8), photometric="minisblack")
    (tmp_path / "exists.tif").write_bytes(b"")
    m = ["--model", str(model)]
    assert main([str(tmp_path / "missing.tif"), str(tmp_path / "o.tif"), *m]) == 3
    assert main([str(tmp_path / "in.tif"), str(tmp_path / "exists.tif"), *m]) == 2
    assert main([str(tmp_path / "in.tif"), str(tmp_path / "o.mkv"), *m]) == 2
    colorize = sr_model(tmp_path / "c.onnx", kind="colorize")
    assert main([str(tmp_path / "in.tif"), str(tmp_path / "o.tif"), "--model", str(colorize)]) == 2
    assert not (tmp_path / "o.tif").exists()


@pytest.mark.parametrize(("rate", "codec"), [(Fraction(30000, 1001), "ffv1"), (Fraction(24), "x264")])
def test_video_keeps_the_source_frame_rate_and_range(tmp_path: Path, rate: Fraction, codec: str) -> None:
    model = sr_model(tmp_path / "m.onnx")
    frames = np.random.default_rng(3).integers(0, 60, (4, 16, 24), dtype=np.uint8)  # dark: range matters
    src = tmp_path / "in.mkv"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("ffv1", rate=rate)
        stream.width, stream.height, stream.pix_fmt = 24, 16, "gray"
        stream.codec_context.color_range = 2  # full (JPEG) range
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="gray")))
        out.mux(stream.encode())
    dst = tmp_path / ("out.mkv" if codec == "ffv1" else "out.mp4")
    assert main([str(src), str(dst), "--model", str(model), "--codec", codec, "-q"]) == 0
    with av.open(str(dst)) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == rate
        full = stream.codec_context.color_range == 2
        got = [f.to_ndarray()[:32] for f in container.decode(stream)]  # the Y plane (no range expansion)
    assert len(got) == 4 and got[0].shape == (32, 48)
    if codec == "ffv1":  # lossless, still tagged full range
        assert full
        np.testing.assert_array_equal(np.stack(got), up(frames))
    else:  # 4:2:0 untagged (= limited range): converted from full range
        assert got[1].mean() == pytest.approx(16 + frames[1].mean() * 219 / 255, abs=2)
