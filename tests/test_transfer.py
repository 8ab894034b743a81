"""The transfer the model sees (issue 20): linear EXR and Cineon log DPX scans are shown to the model in
sRGB and converted back, so a scan colorizes as its display-referred picture would, in its own encoding."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import tifffile
import vapoursynth as vs
from test_scan_sequences import grey, read_rgb, srgb_encode, write_picture

from vs_colorize.cli import EXIT_OK, main
from vs_colorize.io.dpx import with_header
from vs_colorize.io.transfer import from_model, resolve_transfer, to_model

B = 10 ** ((95 - 685) * 0.002 / 0.6)  # Cineon black offset


def srgb_decode(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def cineon_to_linear(code: np.ndarray) -> np.ndarray:
    return (10 ** ((code - 685) * 0.002 / 0.6) - B) / (1 - B)


def linear_to_cineon(lin: np.ndarray) -> np.ndarray:
    return 685 + np.log10(np.maximum(lin * (1 - B) + B, 1e-10)) * 0.6 / 0.002


def colorize(src: Path, out: Path, *extra: str) -> np.ndarray:
    assert main(["colorize", str(src), str(out), "--model", "demo", "-q", *extra]) == EXIT_OK
    return read_rgb(out)[1]


def test_linear_exr_is_colorized_as_its_srgb_picture(tmp_path: Path) -> None:
    shown = grey(0, 1.0)  # what the picture looks like on a display
    write_picture(tmp_path / "lin.exr", "exr", "float", srgb_decode(shown))
    write_picture(tmp_path / "srgb.exr", "exr", "float", shown)
    lin_out = colorize(tmp_path / "lin.exr", tmp_path / "lin_out.exr")  # auto: FFmpeg tags EXR linear
    srgb_out = colorize(tmp_path / "srgb.exr", tmp_path / "srgb_out.exr", "--transfer-in", "srgb")
    assert np.ptp(srgb_out[..., 0] - srgb_out[..., 2]) > 0.01, "not colorized"
    assert np.abs(srgb_encode(lin_out) - srgb_out).max() < 1e-3, "the model did not see the sRGB picture"


def test_log_dpx_is_colorized_as_its_srgb_picture_and_stays_log(tmp_path: Path) -> None:
    code = np.round(95 + grey(0, 1.0) * 590)  # film black .. white in Cineon code values
    write_picture(tmp_path / "log.dpx", "dpx", "10", code)
    path = tmp_path / "log.dpx"
    path.write_bytes(with_header(path.read_bytes(), transfer=3, rate=Fraction(24)))  # logarithmic
    shown = srgb_encode(cineon_to_linear(code)).astype(np.float32)
    tifffile.imwrite(tmp_path / "shown.tif", np.dstack([shown] * 3), photometric="rgb")
    log_out = colorize(path, tmp_path / "log_out.dpx")
    ref = colorize(tmp_path / "shown.tif", tmp_path / "shown_out.tif")
    want = linear_to_cineon(srgb_decode(np.clip(ref, 0, 1)))
    inside = (code > 100) & (code < 680)  # away from the clipped ends of the film range
    assert np.abs(log_out - want)[inside].max() <= 1.5, "the log scan was not shown to the model in sRGB"


@pytest.mark.parametrize(
    ("props", "want"),
    [({"DpxTransfer": 3}, "log"), ({"DpxTransfer": 1}, "log"), ({"_Transfer": 8}, "linear"),
     ({"_Transfer": 13}, "srgb"), ({}, "bt709"), ({"_Transfer": 1}, "bt709")],
)  # fmt: skip
def test_auto_transfer_comes_from_the_metadata(props: dict[str, int], want: str) -> None:
    clip = vs.core.std.SetFrameProps(vs.core.std.BlankClip(format=vs.RGB30, width=8, height=8), **props)
    assert resolve_transfer(clip) == want
    assert resolve_transfer(clip, "linear") == "linear"
    with pytest.raises(ValueError, match="transfer_in"):
        resolve_transfer(clip, "gamma")


def test_log_and_linear_round_trip_losslessly() -> None:
    codes = np.arange(1024, dtype=np.uint16).reshape(16, 64)
    clip = vs.core.std.BlankClip(format=vs.RGB30, width=64, height=16, length=1)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p in range(3):
            np.copyto(np.asarray(out[p]), codes)
        return out

    clip = vs.core.std.ModifyFrame(clip, clip, fill)
    back = from_model(to_model(clip, "log"), "log", clip).get_frame(0)
    kept = np.asarray(back[0])[codes >= 95]  # below film black is clipped to it, by design
    assert back.format.name == "RGB30" and np.array_equal(kept, codes[codes >= 95])
    bright = vs.core.std.BlankClip(format=vs.RGBS, width=8, height=8, color=[0.18, 4.0, 0.0])
    got = from_model(to_model(bright, "linear"), "linear", bright).get_frame(0)
    assert np.allclose([np.asarray(got[p])[0, 0] for p in range(3)], [0.18, 4.0, 0.0], atol=1e-5)
