"""colorize() fails loudly: bad clips, bad arguments, bad model files, inference failures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx_models as om
import pytest
import vapoursynth as vs

from vs_colorize import colorize
from vs_colorize.backends import ORT

core = vs.core


@pytest.fixture(scope="module")
def tint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return om.tint(tmp_path_factory.mktemp("m") / "tint.onnx")


@pytest.fixture
def clip() -> vs.VideoNode:
    return core.std.BlankClip(format=vs.YUV420P8, width=96, height=64, length=2)


def test_not_a_clip(tint: Path) -> None:
    with pytest.raises(vs.Error, match=r"^colorize: clip must be a vapoursynth.VideoNode, got str"):
        colorize("clip.mp4", tint)  # type: ignore[arg-type]


def test_variable_format_and_size(tint: Path) -> None:
    a = core.std.BlankClip(format=vs.YUV420P8, width=96, height=64, length=1)
    b = core.std.BlankClip(format=vs.YUV444P8, width=64, height=64, length=1)
    with pytest.raises(vs.Error, match=r"colorize: clip must have a constant format"):
        colorize(core.std.Splice([a, b], mismatch=True), tint)
    c = core.std.BlankClip(format=vs.YUV420P8, width=64, height=64, length=1)
    with pytest.raises(vs.Error, match=r"colorize: clip must have a constant frame size"):
        colorize(core.std.Splice([a, c], mismatch=True), tint)


def test_unsupported_sample_format(tint: Path) -> None:
    fmt = core.query_video_format(vs.GRAY, vs.INTEGER, 32, 0, 0)
    clip = core.std.BlankClip(format=fmt.id, width=64, height=64, length=1)
    with pytest.raises(vs.Error, match=r"colorize: clip must be 8..16 bit when integer, got Gray32"):
        colorize(clip, tint)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"render_factor": 3}, r"colorize: render_factor must be 4..64, got 3"),
        ({"render_factor": 65}, r"colorize: render_factor must be 4..64, got 65"),
        ({"render_factor": 21.0}, r"colorize: render_factor must be an int, got float"),
        ({"fit": "crop"}, r"colorize: fit must be one of 'stretch', 'pad', got 'crop'"),
        ({"temporal_radius": -1}, r"colorize: temporal_radius must be 0..7, got -1"),
        ({"scene_threshold": 2.0}, r"colorize: scene_threshold must be in \[0.0, 1.0\], got 2.0"),
        ({"subsampling": "422"}, r"colorize: subsampling must be one of '420', '444', got '422'"),
        ({"matrix": 2}, r"colorize: matrix must be a YUV matrix"),
        ({"range_in": 2}, r"colorize: range_in must be 0..1, got 2"),
        ({"backend": "cuda-magic"}, r"colorize: backend must be None, one of 'ort'"),
    ],
)
def test_bad_arguments(clip: vs.VideoNode, tint: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(vs.Error, match=message):
        colorize(clip, tint, **kwargs)  # type: ignore[arg-type]


def test_bad_backend_config() -> None:
    with pytest.raises(vs.Error, match=r"ORT: num_streams must be 1..64, got 0"):
        ORT(num_streams=0)
    with pytest.raises(vs.Error, match=r"ORT: provider must be one of"):
        ORT(provider="gpu")  # type: ignore[arg-type]


def test_missing_model(clip: vs.VideoNode, tmp_path: Path) -> None:
    with pytest.raises(
        vs.Error, match=r"colorize: model '.*nope.onnx' is neither a file nor a registry name"
    ):
        colorize(clip, tmp_path / "nope.onnx")


def test_garbage_model(clip: vs.VideoNode, tmp_path: Path) -> None:
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(vs.Error, match=r"colorize: model '.*garbage.onnx' is not a usable artifact"):
        colorize(clip, bad)


def test_unknown_suffix(clip: vs.VideoNode, tmp_path: Path) -> None:
    other = tmp_path / "model.bin"
    other.write_bytes(b"\0" * 16)
    with pytest.raises(
        vs.Error, match=r"colorize: model '.*model.bin' must be .onnx, .pt2, .engine or .plan"
    ):
        colorize(clip, other)


def test_wrong_kind(clip: vs.VideoNode, tmp_path: Path) -> None:
    sr = om.superres(tmp_path / "sr.onnx")
    with pytest.raises(
        vs.Error, match=r"colorize: model '.*sr.onnx' is a 'superres' model, not a 'colorize'"
    ):
        colorize(clip, sr)


def test_foreign_onnx(clip: vs.VideoNode, tmp_path: Path) -> None:
    foreign = om.tint(tmp_path / "foreign.onnx", metadata=False)
    with pytest.raises(vs.Error, match=r"carries no vs_colorize metadata"):
        colorize(clip, foreign)


def test_static_size_mismatch(clip: vs.VideoNode, tmp_path: Path) -> None:
    static = om.tint(tmp_path / "static.onnx", static_size=(64, 64))
    out = colorize(clip, static, render_factor=4)  # 64x64: fits
    assert out.get_frame(0).props["VSColorizeRenderFactor"] == 4
    with pytest.raises(vs.Error, match=r"static 64x64 input, but render_factor/fit ask for 80x80"):
        colorize(clip, static, render_factor=5)
    with pytest.raises(vs.Error, match=r"fit='pad' needs a dynamic model"):
        colorize(clip, static, render_factor=4, fit="pad")


def test_pad_on_extreme_aspect_ratio(tint: Path) -> None:
    strip = core.std.BlankClip(format=vs.YUV444P8, width=1000, height=4, length=1)
    with pytest.raises(vs.Error, match=r"colorize: fit='pad' cannot mirror-pad a 1000x4 frame"):
        colorize(strip, tint, render_factor=4, fit="pad")
    assert colorize(strip, tint, render_factor=4).get_frame(0).props["VSColorizeRenderFactor"] == 4


def test_dynamic_range_exceeded(clip: vs.VideoNode, tmp_path: Path) -> None:
    small = om.tint(tmp_path / "small.onnx", info=om.colorize_info(dynamic_range=(16, 256)))
    with pytest.raises(vs.Error, match=r"accepts sides 16..256 in multiples of 16, but .* ask for 336x336"):
        colorize(clip, small)


@pytest.mark.parametrize("streams", [1, 2])
def test_inference_failure_raises(clip: vs.VideoNode, tmp_path: Path, streams: int) -> None:
    broken = om.broken(tmp_path / "broken.onnx")
    out = colorize(clip, broken, render_factor=4, backend=ORT(num_streams=streams))
    with pytest.raises(
        vs.Error, match=r"colorize: inference failed on frame 1 with ORT\[CPUExecutionProvider\]"
    ):
        out.get_frame(1)


def test_nan_output_raises(clip: vs.VideoNode, tmp_path: Path) -> None:
    nan = om.nan(tmp_path / "nan.onnx")
    out = colorize(clip, nan, render_factor=4)
    with pytest.raises(vs.Error, match=r"colorize: ORT\[CPUExecutionProvider\] produced NaN/Inf on frame 0"):
        out.get_frame(0)


def test_failure_is_not_passed_through_by_output(clip: vs.VideoNode, tmp_path: Path) -> None:
    """Rendering the whole clip (as vspipe would) stops with the error instead of writing grey frames."""
    out = colorize(clip, om.nan(tmp_path / "nan.onnx"), render_factor=4)
    with pytest.raises(vs.Error, match=r"produced NaN/Inf"):
        for _ in out.frames():
            pass
