"""The bundled demo colorizer (vs_colorize/assets) and the demo's contact-sheet writer."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vs_colorize.core.contract import read_model_info
from vs_colorize.models import ASSETS
from vs_colorize.sheet import GAP, pick_frames, read_frames, write_contact_sheet

MAX_BYTES = 25 * 1024 * 1024
CLIP = Path("bw_film_clips") / "a-bomb_blast_effects_part.mp4"


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_asset_shipped_with_metadata(precision: str) -> None:
    path = ASSETS / f"demo-{precision}.onnx"
    assert path.is_file(), f"{path} is not shipped"
    assert path.stat().st_size <= MAX_BYTES
    info = read_model_info(path)
    assert (info.kind, info.arch, info.precision) == ("colorize", "tiny", precision)
    assert info.dynamic_range == (64, 1024)
    assert (ASSETS / "MODEL_CARD.md").is_file()


def _photo(data_dir: Path, size: int) -> np.ndarray:
    """The first ImageNet sample photo as the grey ``[1,3,size,size]`` input DeOldify feeds its model."""
    from PIL import Image

    path = sorted((data_dir / "imagenet_sample30").glob("*.JPEG"))[0]
    with Image.open(path) as im:
        grey = im.convert("L").resize((size, size), Image.Resampling.BILINEAR)
    arr = np.asarray(grey, dtype=np.float32) / 255
    return np.repeat(arr[None, None], 3, axis=1)


def test_fp16_agrees_with_fp32_on_a_photo(data_dir: Path) -> None:
    import onnxruntime as ort

    x = _photo(data_dir, 224)
    outs = []
    for precision in ("fp32", "fp16"):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(
            str(ASSETS / f"demo-{precision}.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        outs.append(sess.run(["output"], {"input": x})[0])
    fp32, fp16 = outs
    assert fp16.dtype == np.float32 and fp16.shape == fp32.shape == x.shape
    diff = np.abs(fp16 - fp32)
    assert float(diff.mean()) < 1e-3, f"mean |fp16 - fp32| = {diff.mean():.2e}"
    # the export's fp16 parity tolerance
    assert float(diff.max()) < 1e-2, f"max |fp16 - fp32| = {diff.max():.2e}"
    # the model colours the photo: its output is not grey
    assert float(np.abs(fp32 - fp32.mean(axis=1, keepdims=True)).mean()) > 0.01


def test_default_model_is_the_demo_and_colours_a_film_frame(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import vapoursynth as vs

    from vs_colorize import colorize
    from vs_colorize.backends import ORT
    from vs_colorize.io.source import open_source

    src = open_source(data_dir / CLIP)
    with caplog.at_level(logging.INFO, logger="vs_colorize"):
        out = colorize(src, None, 21, ORT(provider="cpu"))
    assert any("using model demo" in r.getMessage() for r in caplog.records)
    frame = out.get_frame(150)
    assert frame.props["VSColorizeModel"] == "demo"
    src_frame = src.get_frame(150)
    assert out.format.color_family == vs.YUV
    np.testing.assert_array_equal(np.asarray(frame[0]), np.asarray(src_frame[0]))  # luma untouched
    u, v = (np.asarray(frame[p], dtype=np.float32) - 128 for p in (1, 2))
    chroma = np.sqrt(u**2 + v**2)
    src_chroma = np.sqrt(sum((np.asarray(src_frame[p], dtype=np.float32) - 128) ** 2 for p in (1, 2)))
    assert float(src_chroma.mean()) < 1.0  # the film really is black and white
    assert float(chroma.mean()) > 2.0, f"mean chroma {chroma.mean():.2f} code values: output is grey"


def test_cli_lists_the_packaged_demo_as_default() -> None:
    import subprocess
    import sys

    res = subprocess.run(
        [sys.executable, "-m", "vs_colorize", "models"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert str(ASSETS / "demo-fp32.onnx") in res.stdout
    assert "default (model=None): demo" in res.stdout


def _film(path: Path, levels: list[tuple[int, int, int]]) -> None:
    """A lossless (ffv1, RGB) film whose frame i is filled with the colour levels[i]."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=Fraction(24))
        stream.width, stream.height, stream.pix_fmt = 48, 32, "bgr0"
        for rgb in levels:
            frame = av.VideoFrame.from_ndarray(np.full((32, 48, 3), rgb, dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def test_contact_sheet_puts_before_above_after(tmp_path: Path) -> None:
    before, after, sheet_path = tmp_path / "b.mkv", tmp_path / "a.mkv", tmp_path / "sheet.png"
    _film(before, [(10 * i, 10 * i, 10 * i) for i in range(10)])
    _film(after, [(10 * i, 200, 50) for i in range(10)])
    shown = write_contact_sheet(before, after, sheet_path, frames=4)
    assert shown == pick_frames(10, 4) == [2, 4, 6, 8]
    with av.open(str(sheet_path)) as png:
        sheet = next(png.decode(video=0)).to_ndarray(format="rgb24")
    assert sheet.shape == (2 * 32 + GAP, 4 * 48 + 3 * GAP, 3)
    for col, idx in enumerate(shown):
        x = col * (48 + GAP)
        np.testing.assert_array_equal(sheet[:32, x : x + 48], read_frames(before, [idx])[0])
        np.testing.assert_array_equal(sheet[32 + GAP :, x : x + 48], read_frames(after, [idx])[0])
        assert tuple(sheet[5, x + 5]) == (10 * idx,) * 3
        assert tuple(sheet[32 + GAP + 5, x + 5]) == (10 * idx, 200, 50)
    assert (sheet[:, 48 : 48 + GAP] == 255).all()
    with pytest.raises(FileExistsError, match="out_png"):
        write_contact_sheet(before, after, sheet_path)
    _film(after, [(0, 0, 0)] * 9)
    with pytest.raises(ValueError, match="9 frames but before has 10"):
        write_contact_sheet(before, after, sheet_path, overwrite=True)


def test_sheet_subcommand(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vs_colorize.cli import main

    before, after, sheet_path = tmp_path / "b.mkv", tmp_path / "a.mkv", tmp_path / "sheet.png"
    _film(before, [(10 * i,) * 3 for i in range(6)])
    _film(after, [(10 * i, 200, 50) for i in range(6)])
    assert main(["sheet", str(before), str(after), str(sheet_path), "--frames", "2", "-q"]) == 0
    assert capsys.readouterr().out == ""
    with av.open(str(sheet_path)) as png:
        assert next(png.decode(video=0)).width == 2 * 48 + GAP
    assert main(["sheet", str(before), str(after), str(sheet_path)]) == 2  # exists
    assert "pass -y/--overwrite" in capsys.readouterr().err
    assert main(["sheet", str(before), str(after), str(before), "-y"]) == 2  # never over an input
    assert "is the input file" in capsys.readouterr().err
    assert main(["sheet", str(before), str(tmp_path / "missing.mkv"), str(tmp_path / "s2.png")]) == 3
