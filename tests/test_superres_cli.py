"""``vs-colorize superres`` (vs_colorize.cli.superres): TIFF stacks and videos end to end, exit codes."""

from __future__ import annotations

import tracemalloc
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import tifffile
from test_superres import sr_model

from vs_colorize.cli import main as cli_main
from vs_colorize.io import tiff_stack


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


def _peak_bytes(tmp_path: Path, model: Path, frames: int) -> int:
    """Python-heap peak (numpy arrays included) of one TIFF-stack render of ``frames`` 128² frames."""
    src, dst = tmp_path / f"in{frames}.tif", tmp_path / f"out{frames}.tif"
    data = np.random.default_rng(frames).integers(0, 65535, (frames, 128, 128), dtype=np.uint16)
    tifffile.imwrite(src, data, photometric="minisblack")
    del data
    tracemalloc.start()
    try:
        assert main([str(src), str(dst), "--model", str(model), "-q"]) == 0
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_tiff_stacks_stream_in_bounded_memory(tmp_path: Path) -> None:
    """A stack 12x longer (48 frames: 1.5 MB in, 6 MB out at 2x) must not need more memory than 4 frames."""
    model = sr_model(tmp_path / "m.onnx")
    _peak_bytes(tmp_path, model, 2)  # warm-up: imports, sessions, caches
    short, long = _peak_bytes(tmp_path, model, 4), _peak_bytes(tmp_path, model, 48)
    assert long - short < 1_000_000, (short, long)
    with tifffile.TiffFile(tmp_path / "out48.tif") as tif:
        assert tif.series[0].shape == (48, 256, 256) and not tif.is_bigtiff


def test_big_stacks_are_written_as_bigtiff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiff_stack, "BIGTIFF_ABOVE", 3 * 32 * 32 * 2 - 1)  # the output of this 3x16² stack
    model = sr_model(tmp_path / "m.onnx")
    data = np.arange(3 * 16 * 16, dtype=np.uint16).reshape(3, 16, 16)
    tifffile.imwrite(tmp_path / "in.tif", data, photometric="minisblack")
    assert main([str(tmp_path / "in.tif"), str(tmp_path / "out.tif"), "--model", str(model)]) == 0
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert tif.is_bigtiff
        np.testing.assert_array_equal(tif.asarray(), up(data))


def test_planar_rgb_stack_channel(tmp_path: Path) -> None:
    model = sr_model(tmp_path / "m.onnx")
    rgb = np.random.default_rng(4).integers(0, 255, (2, 3, 16, 16), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "p.tif", rgb, photometric="rgb", planarconfig="separate")
    args = [str(tmp_path / "p.tif"), str(tmp_path / "o.tif"), "--model", str(model), "--channel", "2"]
    assert main(args) == 0
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "o.tif"), up(rgb[:, 2]))


def test_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = sr_model(tmp_path / "m.onnx")
    tifffile.imwrite(tmp_path / "in.tif", np.zeros((3, 8, 8), np.uint8), photometric="minisblack")
    video = tmp_path / "in.mkv"
    with av.open(str(video), "w") as out:
        stream = out.add_stream("ffv1", rate=5)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "gray"
        out.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((16, 16), np.uint8), format="gray")))
        out.mux(stream.encode())
    cases = [
        ([str(video), str(tmp_path / "o.mkv"), "--model", str(model), "--crf", "99"], "takes no crf"),
        ([str(video), str(tmp_path / "o.mp4"), "--model", str(model), "--codec", "x264", "--crf", "99"], "crf must be in 0..51"),
        ([str(tmp_path / "in.tif"), str(tmp_path / "o.tif"), "--model", str(model), "--crf", "20"], "--crf applies to"),
        ([str(tmp_path / "in.tif"), str(tmp_path / "o.tif"), "--model", "video"], "is not a file (a superres model"),
    ]  # fmt: skip
    for args, message in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert message in err, err
        assert "stable" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "in.tif", "m.onnx"]
