"""OME-TIFF, ImageJ hyperstacks and multi-channel stacks through ``vs-colorize superres``: axes, pixel sizes,
time step and sample type survive; every channel is processed on its own; pages stay in file order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from test_superres import sr_model

from vs_colorize.cli import main as cli_main
from vs_colorize.io.tiff_stack import read_tiff_stack


def run(src: Path, out: Path, model: Path, *extra: str) -> int:
    return cli_main(["superres", str(src), str(out), "--model", str(model), *extra])


def up(a: np.ndarray, s: int = 2) -> np.ndarray:
    return a.repeat(s, axis=-2).repeat(s, axis=-1)


def data(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    rng = np.random.default_rng(sum(shape))
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    return rng.random(shape, dtype=np.float32)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_ome_round_trip_keeps_axes_dtype_and_divides_the_pixel_size(tmp_path: Path, dtype: type) -> None:
    stack = data((4, 2, 3, 12, 10), dtype)  # T Z C Y X: channels and planes each get their own window over T
    meta = {
        "axes": "TZCYX",
        "PhysicalSizeX": 0.4,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": 0.3,
        "PhysicalSizeYUnit": "nm",
        "TimeIncrement": 7.0,
        "TimeIncrementUnit": "ms",
    }
    tifffile.imwrite(tmp_path / "in.ome.tif", stack, ome=True, metadata=meta)
    assert run(tmp_path / "in.ome.tif", tmp_path / "out.ome.tif", sr_model(tmp_path / "m.onnx")) == 0
    with tifffile.TiffFile(tmp_path / "out.ome.tif") as tif:
        assert tif.is_ome and tif.series[0].axes == "TZCYX"
        out = tif.series[0].asarray()
        px = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
    assert out.dtype == stack.dtype
    np.testing.assert_array_equal(out, up(stack))  # each page is its own frame t (the model picks t)
    assert (px["PhysicalSizeX"], px["PhysicalSizeXUnit"]) == (pytest.approx(0.2), "µm")
    assert (px["PhysicalSizeY"], px["PhysicalSizeYUnit"]) == (pytest.approx(0.15), "nm")
    assert (px["TimeIncrement"], px["TimeIncrementUnit"]) == (7.0, "ms")


def test_channels_are_processed_separately(tmp_path: Path) -> None:
    # a model that mixes frame t−1 into t: were channels interleaved into one clip, t−1 would be another channel
    stack = data((5, 2, 8, 8), np.uint16)  # T C Y X
    tifffile.imwrite(tmp_path / "in.ome.tif", stack, ome=True, metadata={"axes": "TCYX"})
    model = sr_model(tmp_path / "prev.onnx", channel=0)  # output = frame t−1 (ends replicated)
    assert run(tmp_path / "in.ome.tif", tmp_path / "out.ome.tif", model) == 0
    out = tifffile.imread(tmp_path / "out.ome.tif")
    prev = np.concatenate([stack[:1], stack[:-1]])
    np.testing.assert_array_equal(out, up(prev))
    # --channel keeps one channel and drops the axis
    assert run(tmp_path / "in.ome.tif", tmp_path / "c1.ome.tif", model, "--channel", "1") == 0
    with tifffile.TiffFile(tmp_path / "c1.ome.tif") as tif:
        assert tif.series[0].axes == "TYX"
        np.testing.assert_array_equal(tif.series[0].asarray(), up(prev[:, 1]))


def test_imagej_hyperstack_keeps_calibration(tmp_path: Path) -> None:
    stack = data((3, 2, 2, 8, 6), np.float32)  # T Z C Y X
    meta = {"axes": "TZCYX", "unit": "um", "finterval": 5.0, "spacing": 1.5}
    tifffile.imwrite(tmp_path / "in.tif", stack, imagej=True, resolution=(2.0, 4.0), metadata=meta)
    src = read_tiff_stack(tmp_path / "in.tif")
    assert src.info.pixel_size == {"X": (0.5, "um"), "Y": (0.25, "um")}
    assert src.info.time_increment == (5.0, "s") and src.info.window_axis == "T" and len(src.clips) == 4
    src.close()
    assert run(tmp_path / "in.tif", tmp_path / "out.tif", sr_model(tmp_path / "m.onnx")) == 0
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert tif.is_imagej and tif.series[0].axes == "TZCYX"
        np.testing.assert_array_equal(tif.series[0].asarray(), up(stack))
        ij = tif.imagej_metadata
        assert ij is not None and (ij["unit"], ij["finterval"], ij["spacing"]) == ("um", 5.0, 1.5)
        assert tif.pages[0].tags["XResolution"].value == (4, 1) and tif.pages[0].tags[
            "YResolution"
        ].value == (8, 1)


def test_plain_stack_keeps_resolution_tags_and_z_windows(tmp_path: Path) -> None:
    stack = data((4, 8, 8), np.uint8)
    tifffile.imwrite(
        tmp_path / "in.tif", stack, photometric="minisblack", resolution=(100.0, 100.0), resolutionunit=3
    )
    assert run(tmp_path / "in.tif", tmp_path / "out.tif", sr_model(tmp_path / "m.onnx")) == 0
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        np.testing.assert_array_equal(tif.series[0].asarray(), up(stack))
        page = tif.pages[0]
        assert page.tags["XResolution"].value == (200, 1) and page.tags["ResolutionUnit"].value == 3


def test_window_axis_must_be_outermost(tmp_path: Path) -> None:
    tifffile.imwrite(
        tmp_path / "in.ome.tif", data((2, 3, 8, 8), np.uint8), ome=True, metadata={"axes": "CTYX"}
    )
    assert run(tmp_path / "in.ome.tif", tmp_path / "out.ome.tif", sr_model(tmp_path / "m.onnx")) != 0
    assert not (tmp_path / "out.ome.tif").exists()
