"""vs_colorize.superres with tiny ONNX models built by onnx.helper: window plumbing, formats, tiling, errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import vapoursynth as vs
from onnx import TensorProto, helper, numpy_helper

from vs_colorize.core.contract import ModelInfo
from vs_colorize.filters.superres import superres

core = vs.core


def sr_model(
    path: Path,
    *,
    channel: int = 1,
    scale: int = 2,
    blur: bool = False,
    static_size: tuple[int, int] | None = None,
    dynamic_range: tuple[int, int] = (4, 1024),
    multiple: int = 1,
    kind: str = "superres",
    offset: float = 0.0,
    percentiles: tuple[float, float] | None = None,
) -> Path:
    """``output = nearest_upscale(f(input[:, channel])) + offset`` with f = identity or a zero-padded 3×3 mean
    (radius 1); ``percentiles`` go into the metadata (a model trained with percentile normalisation)."""
    info = ModelInfo(
        kind=kind,  # type: ignore[arg-type]
        arch="pick",
        static_size=static_size,
        dynamic_range=None if static_size else dynamic_range,
        multiple=multiple,
        in_channels=3,
        out_channels=1 if kind == "superres" else 3,
        scale=scale if kind == "superres" else 1,
        window=3 if kind == "superres" else 1,
        norm_pmin=None if percentiles is None else percentiles[0],
        norm_pmax=None if percentiles is None else percentiles[1],
    )
    inits = [
        numpy_helper.from_array(np.array([channel], np.int64), "start"),
        numpy_helper.from_array(np.array([channel + 1], np.int64), "end"),
        numpy_helper.from_array(np.array([1], np.int64), "axes"),
        numpy_helper.from_array(np.array([1, 1, scale, scale], np.float32), "scales"),
        numpy_helper.from_array(np.full((1, 1, 3, 3), 1 / 9, np.float32), "k"),
        numpy_helper.from_array(np.array(offset, np.float32), "offset"),
    ]
    nodes = [helper.make_node("Slice", ["input", "start", "end", "axes"], ["c"])]
    if blur:
        nodes.append(helper.make_node("Conv", ["c", "k"], ["b"], pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node("Resize", ["b" if blur else "c", "", "scales"], ["up"], mode="nearest"))
    nodes.append(helper.make_node("Add", ["up", "offset"], ["output"]))
    h, w = static_size if static_size else ("H", "W")
    oh, ow = (h * scale, w * scale) if static_size else ("OH", "OW")
    graph = helper.make_graph(
        nodes,
        "pick",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, h, w])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1, oh, ow])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    helper.set_model_props(model, info.to_props())
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def numbered(fmt: int = vs.GRAY8, length: int = 5, width: int = 24, height: int = 16) -> vs.VideoNode:
    """Frame n is filled with value 10·n (float formats: n/10) and carries the prop ``Idx = n``."""
    blank = core.std.BlankClip(format=fmt, width=width, height=height, length=length, keep=True)
    is_float = blank.format.sample_type == vs.FLOAT

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        np.asarray(out[0])[...] = n / 10 if is_float else 10 * n
        out.props["Idx"] = n
        return out

    return blank.std.ModifyFrame(blank, fill)


def noise(fmt: int, width: int = 40, height: int = 28, length: int = 3, seed: int = 0) -> vs.VideoNode:
    blank = core.std.BlankClip(format=fmt, width=width, height=height, length=length, keep=True)
    info = blank.format

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        rng = np.random.default_rng(seed * 100 + n)
        a = np.asarray(out[0])
        if info.sample_type == vs.INTEGER:
            a[...] = rng.integers(0, 1 << info.bits_per_sample, a.shape)
        else:
            a[...] = rng.random(a.shape)
        return out

    return blank.std.ModifyFrame(blank, fill)


def plane(clip: vs.VideoNode, n: int) -> np.ndarray:
    return np.asarray(clip.get_frame(n)[0]).copy()


@pytest.mark.parametrize(("channel", "offset"), [(0, -1), (1, 0), (2, 1)])
def test_window_feeds_previous_current_next_with_replicated_ends(
    tmp_path: Path, channel: int, offset: int
) -> None:
    model = sr_model(tmp_path / "pick.onnx", channel=channel, scale=2)
    src = numbered(length=5)
    out = superres(src, model, backend="ort")
    assert (out.width, out.height, out.num_frames, out.format.id) == (48, 32, 5, vs.GRAY8)
    for n in range(5):
        got = plane(out, n)
        assert np.all(got == 10 * min(max(n + offset, 0), 4)), (n, got[0, 0])


def test_each_source_frame_is_decoded_once(tmp_path: Path) -> None:
    calls: Counter[int] = Counter()
    blank = core.std.BlankClip(format=vs.GRAY8, width=16, height=16, length=6)

    def count(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        calls[n] += 1
        return f

    src = blank.std.ModifyFrame(blank, count)
    out = superres(src, sr_model(tmp_path / "m.onnx"), backend="ort")
    for n in range(out.num_frames):
        out.get_frame(n)
    assert calls == Counter(dict.fromkeys(range(6), 1))


def test_props_come_from_the_centre_frame(tmp_path: Path) -> None:
    out = superres(numbered(length=4), sr_model(tmp_path / "m.onnx"), backend="ort")
    for n in range(4):
        props = out.get_frame(n).props
        assert props["Idx"] == n
        assert props["VSColorizeModel"] == "m.onnx"


@pytest.mark.parametrize("fmt", [vs.GRAY8, vs.GRAY10, vs.GRAY16, vs.GRAYH, vs.GRAYS])
def test_formats_round_trip_through_an_identity_upscaler(tmp_path: Path, fmt: int) -> None:
    src = noise(fmt)
    out = superres(src, sr_model(tmp_path / "id.onnx", scale=4), backend="ort")
    assert out.format.id == fmt and (out.width, out.height) == (160, 112)
    for n in range(src.num_frames):
        expected = plane(src, n).repeat(4, axis=0).repeat(4, axis=1)
        np.testing.assert_array_equal(plane(out, n), expected)


def test_limited_range_is_honoured(tmp_path: Path) -> None:
    src = core.std.SetFrameProps(
        core.std.BlankClip(format=vs.GRAY8, width=8, height=8, color=235, length=2), _Range=0
    )
    out = superres(src, sr_model(tmp_path / "m.onnx"), backend="ort")
    assert np.all(plane(out, 0) == 235) and out.get_frame(0).props["_Range"] == 0


@pytest.mark.parametrize("scale", [2, 4])
def test_tiled_equals_untiled(tmp_path: Path, scale: int) -> None:
    model = sr_model(tmp_path / "blur.onnx", blur=True, scale=scale)
    src = noise(vs.GRAYS, width=90, height=70)
    whole = superres(src, model, backend="ort")
    tiled = superres(src, model, backend="ort", tile=32, overlap=8)
    for n in range(src.num_frames):
        np.testing.assert_allclose(plane(tiled, n), plane(whole, n), atol=1e-6)


def test_frames_beyond_the_model_range_are_tiled_automatically(tmp_path: Path) -> None:
    model = sr_model(tmp_path / "small.onnx", dynamic_range=(8, 48), multiple=8)
    src = noise(vs.GRAY16, width=150, height=100, length=2)
    out = superres(src, model, backend="ort")
    expected = plane(src, 1).repeat(2, axis=0).repeat(2, axis=1)
    np.testing.assert_array_equal(plane(out, 1), expected)


def test_static_model_runs_in_fixed_tiles(tmp_path: Path) -> None:
    model = sr_model(tmp_path / "static.onnx", static_size=(32, 32))
    src = noise(vs.GRAY8, width=50, height=40, length=2)
    out = superres(src, model, backend="ort")
    np.testing.assert_array_equal(plane(out, 0), plane(src, 0).repeat(2, axis=0).repeat(2, axis=1))


def test_errors_name_function_and_argument(tmp_path: Path) -> None:
    model = sr_model(tmp_path / "m.onnx", multiple=8, dynamic_range=(8, 1024))
    with pytest.raises(vs.Error, match="superres: clip must be GRAY"):
        superres(core.std.BlankClip(format=vs.YUV420P8), model)
    with pytest.raises(vs.Error, match="superres: clip must be GRAY"):
        superres(core.std.BlankClip(format=vs.RGB24), model)
    with pytest.raises(vs.Error, match="superres: tile must be a multiple of 8"):
        superres(noise(vs.GRAY8), model, backend="ort", tile=30)
    with pytest.raises(vs.Error, match="superres: tile must be None, an int or"):
        superres(noise(vs.GRAY8), model, backend="ort", tile=(16, 16, 16))
    with pytest.raises(vs.Error, match="superres: overlap must be smaller"):
        superres(noise(vs.GRAY8), model, backend="ort", tile=16, overlap=16)
    with pytest.raises(vs.Error, match="superres: overlap must be"):
        superres(noise(vs.GRAY8), model, backend="ort", overlap=-1)
    with pytest.raises(vs.Error, match="superres: range_in"):
        superres(noise(vs.GRAY8), model, backend="ort", range_in=2)
    colorize = sr_model(tmp_path / "c.onnx", kind="colorize")
    with pytest.raises(vs.Error, match=r"superres: model .* is a 'colorize' model"):
        superres(noise(vs.GRAY8), colorize, backend="ort")
    with pytest.raises(vs.Error, match="superres: model"):
        superres(noise(vs.GRAY8), tmp_path / "missing.onnx", backend="ort")


@pytest.mark.mlrt
def test_vs_mlrt_backend_matches_ort(tmp_path: Path) -> None:
    from vs_colorize.backends.mlrt import MLRT

    model = sr_model(tmp_path / "blur.onnx", blur=True, scale=2)
    src = noise(vs.GRAYS, width=32, height=24)
    ref = superres(src, model, backend="ort")
    out = superres(src, model, backend=MLRT(plugin="ort", device="CPU"))
    np.testing.assert_allclose(plane(out, 1), plane(ref, 1), atol=1e-5)


@pytest.mark.mlrt
def test_vs_mlrt_backend_runs_a_static_model_on_a_clip_of_its_size(tmp_path: Path) -> None:
    model = sr_model(tmp_path / "static.onnx", static_size=(24, 32), scale=2)
    src = noise(vs.GRAY8, width=32, height=24, length=3)
    out = superres(src, model, backend="mlrt")
    assert (out.width, out.height) == (64, 48)
    for n in range(3):
        np.testing.assert_array_equal(plane(out, n), plane(src, n).repeat(2, axis=0).repeat(2, axis=1))
    wider = noise(vs.GRAY8, width=40, height=24, length=2)  # two 32x24 tiles through vs-mlrt's own tiling
    out = superres(wider, model, backend="mlrt")
    np.testing.assert_array_equal(plane(out, 1), plane(wider, 1).repeat(2, axis=0).repeat(2, axis=1))
    with pytest.raises(
        vs.Error, match="superres: backend 'mlrt' runs tiles inside the frame, but 32x24 tiles"
    ):
        superres(noise(vs.GRAY8, width=28, height=24), model, backend="mlrt")


@pytest.mark.mlrt
def test_vs_mlrt_backend_tiles_with_its_own_tilesize_and_overlap(tmp_path: Path) -> None:
    """vs-mlrt gets the tile size (tiles without overlap show the model's zero padding at the seams, exactly like
    our own tiling) and the overlap (with it, tiled equals untiled for a 3x3 blur)."""
    from vs_colorize.backends import MLRT, ORT

    model = sr_model(tmp_path / "blur.onnx", blur=True, scale=2)
    src = noise(vs.GRAYS, width=64, height=48, length=2)
    mlrt = MLRT(plugin="ort", device="CPU")
    whole = plane(superres(src, model, backend=ORT()), 1)
    seams = plane(superres(src, model, backend=mlrt, tile=16, overlap=0), 1)
    ours = plane(superres(src, model, backend=ORT(), tile=16, overlap=0), 1)
    np.testing.assert_allclose(seams, ours, atol=1e-5)
    assert np.abs(seams - whole).max() > 0.05
    for tile in (16, (24, 32)):
        blended = plane(superres(src, model, backend=mlrt, tile=tile, overlap=8), 1)
        np.testing.assert_allclose(blended, whole, atol=1e-5)
    coarse = sr_model(tmp_path / "m8.onnx", multiple=8, dynamic_range=(8, 1024))
    with pytest.raises(vs.Error, match=r"superres: backend 'mlrt' cannot pad a 60x44 frame .*; pass tile="):
        superres(noise(vs.GRAYS, width=60, height=44), coarse, backend=mlrt)


@pytest.mark.parametrize(("length", "radius"), [(1, 1), (2, 2), (6, 2)])
def test_window_clips_clamp_indices(length: int, radius: int) -> None:
    from vs_colorize.filters.frame_window import window

    clips = window(numbered(length=length), radius)
    assert len(clips) == 2 * radius + 1 and all(c.num_frames == length for c in clips)
    for k, c in enumerate(clips):
        for n in range(length):
            assert c.get_frame(n).props["Idx"] == min(max(n + k - radius, 0), length - 1)


def test_several_streams_give_the_same_frames(tmp_path: Path) -> None:
    from vs_colorize.backends import ORT

    model = sr_model(tmp_path / "blur.onnx", blur=True)
    src = noise(vs.GRAYS, length=4)
    one = superres(src, model, backend=ORT(provider="cpu"), tile=16, overlap=8)
    two = superres(src, model, backend=ORT(provider="cpu", num_streams=2), tile=16, overlap=8)
    for n in range(4):
        np.testing.assert_array_equal(plane(one, n), plane(two, n))


def test_autoselected_cpu_backend_runs_one_whole_frame_session(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    import os

    from vs_colorize.backends import ORT, TRT, cpu_layout, cuda_device_count, get_backend

    if cuda_device_count() == 0:
        with caplog.at_level("INFO", logger="vs_colorize"):
            superres(noise(vs.GRAY8), sr_model(tmp_path / "m.onnx"))
        assert "superres: autoselected backend ORT(num_streams=1, batch_size=1, provider='cpu'" in caplog.text

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr(core, "num_threads", 8)
    assert ORT(provider="cpu", **cpu_layout()) == ORT(provider="cpu", num_streams=2, intra_op_threads=4)
    assert ORT(provider="cpu", **cpu_layout("superres")) == ORT(
        provider="cpu", num_streams=1, intra_op_threads=8
    )
    for kept in (ORT(provider="cpu"), ORT(provider="cuda", num_streams=2), TRT(num_streams=2)):
        assert get_backend(kept, func="superres", kind="superres") is kept


def test_percentile_model_sees_each_window_normalised_and_output_mapped_back(tmp_path: Path) -> None:
    # y_n = x_n + c in normalised units → y = x + c·(hi − lo) with lo/hi the percentiles of the whole window
    model = sr_model(tmp_path / "norm.onnx", offset=0.25, percentiles=(2.0, 99.8))
    clip = noise(vs.GRAYS, length=4, seed=3)
    out = superres(clip, model, backend="ort")
    frames = [plane(clip, n) for n in range(4)]
    for n in range(4):
        win = np.stack([frames[max(n - 1, 0)], frames[n], frames[min(n + 1, 3)]])
        lo, hi = np.percentile(win, (2.0, 99.8))
        expected = np.kron(frames[n], np.ones((2, 2), np.float32)) + 0.25 * (hi - lo)
        np.testing.assert_allclose(plane(out, n), expected, atol=2e-5)


def test_model_without_percentiles_keeps_raw_intensities(tmp_path: Path) -> None:
    model = sr_model(tmp_path / "raw.onnx", offset=0.25)
    clip = noise(vs.GRAYS, length=3, seed=4)
    expected = np.kron(plane(clip, 1), np.ones((2, 2), np.float32)) + 0.25
    np.testing.assert_allclose(plane(superres(clip, model, backend="ort"), 1), expected, atol=1e-6)


def test_percentile_model_output_lands_in_the_input_range_for_integer_clips(tmp_path: Path) -> None:
    # an identity model with normalisation gives the input back, in the input's own code range
    model = sr_model(tmp_path / "id.onnx", percentiles=(2.0, 99.8))
    clip = core.std.Expr(noise(vs.GRAY16, length=3, seed=5), "x 16 /")  # a dim 12-bit-like movie in 16 bit
    out = superres(clip, model, backend="ort")
    np.testing.assert_array_equal(plane(out, 1), np.kron(plane(clip, 1), np.ones((2, 2), np.uint16)))


def test_model_none_runs_the_shipped_model_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    # a dim random texture with some spatial correlation (a 3x3 box blur): i.i.d. pixel noise has no structure
    # at all, and the shipped model darkens it by 5-6 % on average (its card's Limits; scripts/sr_mean_shift.py),
    # which is not what this test is about
    clip = core.std.Expr(noise(vs.GRAY16, width=32, height=24, length=3, seed=6), "x 8 /")
    clip = clip.std.BoxBlur(hradius=1, vradius=1)
    with caplog.at_level("INFO", logger="vs_colorize"):
        out = superres(clip)
    frame = out.get_frame(1)
    assert (out.width, out.height) == (128, 96) and out.format.id == vs.GRAY16
    assert frame.props["VSColorizeModel"] == "pssr3-x4-confocal"
    assert "model=None: the shipped pssr3-x4-confocal" in caplog.text
    # the output follows the input's brightness (percentile normalisation mapped back), not [0, 1] of the model
    a, b = np.asarray(frame[0]).astype(np.float64), plane(clip, 1).astype(np.float64)
    assert abs(a.mean() - b.mean()) < 0.05 * b.mean()
