"""colorize(): formats, luma identity, chroma against analytic values, props, geometry, streams."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx_models as om
import pytest
import vapoursynth as vs

from vs_colorize import colorize
from vs_colorize.backends import ORT
from vs_colorize.filters.colorize import geometry

core = vs.core
SCALE, BIAS = (1.0, 0.6, 0.3), (0.1, 0.05, 0.0)


@pytest.fixture(scope="module")
def tint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return om.tint(tmp_path_factory.mktemp("m") / "tint.onnx", SCALE, BIAS)


def planes(frame: vs.VideoFrame) -> list[np.ndarray]:
    return [np.array(frame[p]) for p in range(frame.format.num_planes)]


def flat(fmt: int, y: float, width: int = 96, height: int = 64, **props: int) -> vs.VideoNode:
    """A flat grey clip (y = plane-0 code value), with optional frame props."""
    info = core.get_video_format(fmt)
    if info.color_family == vs.YUV:
        mid = 0.0 if info.sample_type == vs.FLOAT else 1 << (info.bits_per_sample - 1)
        color = [y, mid, mid]
    elif info.color_family == vs.RGB:
        color = [y, y, y]
    else:
        color = [y]
    clip = core.std.BlankClip(format=fmt, width=width, height=height, length=2, color=color)
    return core.std.SetFrameProps(clip, **props) if props else clip


YUV_GRAY_FORMATS = [
    vs.YUV420P8, vs.YUV422P10, vs.YUV444P16, vs.YUV420PH, vs.YUV444PS, vs.YUV410P8, vs.YUV411P8,
    vs.GRAY8, vs.GRAY10, vs.GRAY16, vs.GRAYH, vs.GRAYS,
]  # fmt: skip


@pytest.mark.parametrize("fmt", YUV_GRAY_FORMATS, ids=lambda f: core.get_video_format(f).name)
def test_luma_bit_identical(tint: Path, fmt: int) -> None:
    src = om.noise_clip(fmt, 96, 64)
    out = colorize(src, tint, render_factor=4)
    info = core.get_video_format(fmt)
    assert out.format.color_family == vs.YUV
    assert out.format.bits_per_sample == info.bits_per_sample
    assert out.format.sample_type == info.sample_type
    if info.color_family == vs.YUV:
        assert out.format.id == info.id
    else:
        assert (out.format.subsampling_w, out.format.subsampling_h) == (1, 1)
    for n in range(src.num_frames):
        a, b = src.get_frame(n), out.get_frame(n)
        np.testing.assert_array_equal(np.asarray(a[0]), np.asarray(b[0]))


@pytest.mark.parametrize(
    ("fmt", "y", "yn", "bits"),
    [(vs.YUV420P8, 120, (120 - 16) / 219, 8), (vs.YUV422P10, 600, (600 - 64) / 876, 10), (vs.GRAY16, 40000, (40000 - 4096) / 56064, 16)],
)  # fmt: skip
def test_chroma_matches_model(tint: Path, fmt: int, y: int, yn: float, bits: int) -> None:
    out = colorize(flat(fmt, y), tint, render_factor=4)
    u, v = om.expected_chroma(yn, SCALE, BIAS, matrix=6)
    f = out.get_frame(0)
    assert f.props["_Matrix"] == 6 and f.props["_Range"] == 0
    np.testing.assert_allclose(np.asarray(f[1]), om.chroma_code(u, bits, False), atol=1.0)
    np.testing.assert_allclose(np.asarray(f[2]), om.chroma_code(v, bits, False), atol=1.0)
    # the model must really colour: a tint this strong is far from neutral
    assert abs(float(np.asarray(f[2]).mean()) - (1 << (bits - 1))) > 10 * (1 << (bits - 8))


def test_float_chroma(tint: Path) -> None:
    f = colorize(flat(vs.YUV444PS, 0.4), tint, render_factor=4).get_frame(0)
    u, v = om.expected_chroma(0.4, SCALE, BIAS, matrix=6)
    np.testing.assert_allclose(np.asarray(f[1]), u, atol=1e-5)
    np.testing.assert_allclose(np.asarray(f[2]), v, atol=1e-5)


def test_matrix_unspecified_defaults_by_size(tmp_path: Path) -> None:
    """_Matrix=2 (BestSource's "unspecified"): 709 for ≥ 720p, 170m below; the prop says which."""
    red = om.tint(tmp_path / "red.onnx", (0.0, 0.0, 0.0), (0.9, 0.1, 0.1))
    hd = colorize(flat(vs.YUV420P8, 120, 1280, 720, _Matrix=2), red, render_factor=4).get_frame(0)
    sd = colorize(flat(vs.YUV420P8, 120, 96, 64, _Matrix=2), red, render_factor=4).get_frame(0)
    assert hd.props["_Matrix"] == 1 and sd.props["_Matrix"] == 6
    for frame, matrix in ((hd, 1), (sd, 6)):
        u, v = om.expected_chroma_rgb((0.9, 0.1, 0.1), matrix)
        np.testing.assert_allclose(np.asarray(frame[1]), om.chroma_code(u, 8, False), atol=1.0)
        np.testing.assert_allclose(np.asarray(frame[2]), om.chroma_code(v, 8, False), atol=1.0)
    # the two matrices give clearly different codes, so the checks above are decisive
    assert abs(float(np.asarray(hd[1]).mean()) - float(np.asarray(sd[1]).mean())) >= 5


def test_matrix_prop_and_argument(tint: Path) -> None:
    tagged = colorize(flat(vs.YUV420P8, 120, _Matrix=9), tint, render_factor=4, matrix=1).get_frame(0)
    assert tagged.props["_Matrix"] == 9  # a real prop wins over the argument
    forced = colorize(flat(vs.YUV420P8, 120), tint, render_factor=4, matrix=1).get_frame(0)
    assert forced.props["_Matrix"] == 1
    u, v = om.expected_chroma((120 - 16) / 219, SCALE, BIAS, matrix=9)
    np.testing.assert_allclose(np.asarray(tagged[1]), om.chroma_code(u, 8, False), atol=1.0)
    np.testing.assert_allclose(np.asarray(tagged[2]), om.chroma_code(v, 8, False), atol=1.0)


def test_props_followed_per_frame(tmp_path: Path) -> None:
    """Frames of one clip with different _Matrix/_Range each get their own conversion."""
    red = om.tint(tmp_path / "red.onnx", (0.0, 0.0, 0.0), (0.9, 0.1, 0.1))
    tags = [{"_Matrix": 1, "_Range": 0}, {"_Matrix": 6, "_Range": 1}, {"_Matrix": 1, "_Range": 0}]
    clip = core.std.Splice([flat(vs.YUV444P8, 120, **t)[0] for t in tags])
    out = colorize(clip, red, render_factor=4)
    for n, t in enumerate(tags):
        f = out.get_frame(n)
        assert (f.props["_Matrix"], f.props["_Range"]) == (t["_Matrix"], t["_Range"])
        u, v = om.expected_chroma_rgb((0.9, 0.1, 0.1), t["_Matrix"])
        np.testing.assert_allclose(np.asarray(f[1]), om.chroma_code(u, 8, bool(t["_Range"])), atol=1.0)
        np.testing.assert_allclose(np.asarray(f[2]), om.chroma_code(v, 8, bool(t["_Range"])), atol=1.0)


@pytest.mark.filterwarnings("ignore:The _ColorRange frame property has been deprecated")
@pytest.mark.parametrize(
    ("props", "kwargs", "full"),
    [({}, {}, False), ({"_Range": 1}, {}, True), ({"_ColorRange": 0}, {}, True), ({"_ColorRange": 1}, {}, False),
     ({}, {"range_in": 1}, True), ({"_Range": 0}, {"range_in": 1}, False)],
)  # fmt: skip
def test_range_props(tint: Path, props: dict[str, int], kwargs: dict[str, int], full: bool) -> None:
    out = colorize(flat(vs.YUV420P8, 120, **props), tint, render_factor=4, **kwargs)
    f = out.get_frame(0)
    assert f.props["_Range"] == int(full)
    assert f.props["_Matrix"] == 6
    yn = 120 / 255 if full else (120 - 16) / 219
    u, v = om.expected_chroma(yn, SCALE, BIAS, matrix=6)
    np.testing.assert_allclose(np.asarray(f[1]), om.chroma_code(u, 8, full), atol=1.0)
    np.testing.assert_allclose(np.asarray(f[2]), om.chroma_code(v, 8, full), atol=1.0)


def test_gray_to_yuv444_and_props(tint: Path) -> None:
    src = om.noise_clip(vs.GRAY8, 75, 49)
    out = colorize(src, tint, render_factor=4, subsampling="444")
    assert out.format.id == vs.YUV444P8
    f = out.get_frame(0)
    assert f.props["_Matrix"] == 6 and f.props["_Range"] == 0
    np.testing.assert_array_equal(np.asarray(f[0]), np.asarray(src.get_frame(0)[0]))
    f420 = colorize(om.noise_clip(vs.GRAY8), tint, render_factor=4).get_frame(0)
    assert f420.props["_ChromaLocation"] == 0
    with pytest.raises(vs.Error, match=r"colorize: subsampling='420' needs an even frame size"):
        colorize(src, tint, render_factor=4, subsampling="420")


@pytest.mark.parametrize(
    "fmt", [vs.RGB24, vs.RGB30, vs.RGB48, vs.RGBH, vs.RGBS], ids=lambda f: core.get_video_format(f).name
)
def test_rgb_keeps_luminance(tint: Path, fmt: int) -> None:
    """Per pixel: float RGB keeps the source luminance (float outputs are not clipped to the cube); integer RGB
    is the float result of the same picture rounded to the format and clipped to the cube, so the luminance is
    kept to half a code wherever no channel was clipped. (96×80: neither side is the model's 64.)"""
    src = om.noise_clip(fmt, 96, 80)
    out = colorize(src, tint, render_factor=4)
    assert out.format.id == fmt
    f = out.get_frame(0)
    assert f.props["_Matrix"] == 0 and f.props["_Range"] == 1

    def luma(clip: vs.VideoNode) -> np.ndarray:
        return np.asarray(core.resize.Point(clip, format=vs.YUV444PS, matrix=1).get_frame(0)[0])

    info = core.get_video_format(fmt)
    diff = np.abs(luma(out) - luma(src))
    rgb = np.stack(planes(f)).astype(np.float64)
    if info.sample_type == vs.FLOAT:
        assert diff.max() <= (2.0**-11 if info.bits_per_sample == 16 else 2e-6)  # half: one ulp near 1
        step = 1e-3
    else:
        top = (1 << info.bits_per_sample) - 1
        step = 1.0 / top
        exact = colorize(core.resize.Point(src, format=vs.RGBS), tint, render_factor=4).get_frame(0)
        want = np.clip(np.stack(planes(exact)).astype(np.float64), 0.0, 1.0) * top
        slack = 2e-7  # the float32 working space, relative to full scale
        assert np.abs(rgb - want).max() <= 0.5 + slack * top  # rounding only
        clipped = ((rgb <= 0) | (rgb >= top)).any(axis=0)
        assert diff[~clipped].max() <= 0.5 * step + slack
        # where a channel was clipped, the luminance moves by no more than the clipping itself moved it
        kr, kb = om.KR_KB[1]
        weights = np.array([kr, 1 - kr - kb, kb]).reshape(3, 1, 1)
        unclipped = np.stack(planes(exact)).astype(np.float64)
        moved = np.abs((weights * (unclipped - np.clip(unclipped, 0.0, 1.0))).sum(axis=0))
        assert (diff <= moved + 0.5 * step + slack).all()
        assert clipped.mean() < 0.5  # most pixels are inside the cube, so the bound above covers most of them
    assert not np.allclose(rgb[0], planes(src.get_frame(0))[0], atol=4 * step)  # colour did change


def test_rgb_grey_gets_model_chroma(tint: Path) -> None:
    out = colorize(flat(vs.RGBS, 0.4), tint, render_factor=4)
    yuv = core.resize.Point(out, format=vs.YUV444PS, matrix=1).get_frame(0)
    u, v = om.expected_chroma(0.4, SCALE, BIAS, matrix=1)
    np.testing.assert_allclose(np.asarray(yuv[0]), 0.4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(yuv[1]), u, atol=1e-5)
    np.testing.assert_allclose(np.asarray(yuv[2]), v, atol=1e-5)


def test_geometry() -> None:
    assert geometry(1920, 1080, 336, "stretch", 16) == geometry(10, 10, 336, "stretch", 16)
    g = geometry(1920, 1080, 336, "pad", 16)
    assert (g.content_w, g.content_h, g.model_w, g.model_h) == (336, 189, 336, 192)
    assert (g.top, g.bottom, g.left, g.right) == (1, 2, 0, 0)
    t = geometry(480, 1080, 320, "pad", 16)  # tall
    assert (t.content_w, t.content_h, t.model_w, t.model_h, t.left, t.right) == (142, 320, 144, 320, 1, 1)


def test_pad_keeps_geometry(tmp_path: Path) -> None:
    """A tall frame with bands of different grey: both fits put each band's colour back in place."""
    model = om.luma_tint(tmp_path / "luma.onnx")
    width, height = 48, 160
    bands = [40, 200, 90, 160]
    blank = core.std.BlankClip(format=vs.GRAY8, width=width, height=height, length=1)

    def draw(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        a = np.asarray(out[0])
        for i, level in enumerate(bands):
            a[i * height // 4 : (i + 1) * height // 4] = level
        return out

    src = blank.std.ModifyFrame(blank, draw)
    for fit in ("stretch", "pad"):
        f = colorize(src, model, render_factor=4, fit=fit, subsampling="444", range_in=1).get_frame(0)
        v = np.asarray(f[2])
        for i, level in enumerate(bands):
            y = level / 255
            _, v_exp = om.expected_chroma_rgb((y, 1 - y, 0.5), matrix=6)
            centre = v[(2 * i + 1) * height // 8, width // 2]
            assert abs(centre - om.chroma_code(v_exp, 8, True)) <= 2, (fit, i)


def test_streams_and_threads_identical(tint: Path) -> None:
    src = om.noise_clip(vs.YUV420P10, 96, 64, length=6)
    reference = [planes(f) for f in colorize(src, tint, render_factor=5).frames()]
    old = core.num_threads
    try:
        for threads in (1, 4):
            core.num_threads = threads
            for streams in (1, 3):
                out = colorize(src, tint, render_factor=5, backend=ORT(num_streams=streams))
                for ref, f in zip(reference, out.frames(), strict=True):
                    for a, b in zip(ref, planes(f), strict=True):
                        np.testing.assert_array_equal(a, b)
    finally:
        core.num_threads = old


def test_temporal_smoothing_resets_at_cuts(tint: Path) -> None:
    levels = [100, 110, 120, 230, 235]  # a cut between frame 2 and 3
    clip = core.std.Splice([flat(vs.YUV444PS, lv / 255)[0] for lv in levels])
    out = colorize(clip, tint, render_factor=4, temporal_radius=1)
    renders = [om.tint_expected(np.array(lv / 255), SCALE, BIAS) for lv in levels]
    # std.AverageFrames replaces a frame beyond a cut or the clip's ends by the nearest one inside
    windows = [[0, 0, 1], [0, 1, 2], [1, 2, 2], [3, 3, 4], [3, 4, 4]]
    for n, window in enumerate(windows):
        rgb = np.mean([renders[i] for i in window], axis=0)
        _, v = om.expected_chroma_rgb(tuple(rgb), matrix=6)
        np.testing.assert_allclose(np.asarray(out.get_frame(n)[2]), v, atol=1e-5, err_msg=f"frame {n}")
    plain = colorize(clip, tint, render_factor=4)
    assert not np.allclose(np.asarray(plain.get_frame(2)[2]), np.asarray(out.get_frame(2)[2]), atol=1e-4)


def test_temporal_honours_source_scene_props(tint: Path) -> None:
    levels = [100, 110, 120]
    clip = core.std.Splice([flat(vs.YUV444PS, lv / 255)[0] for lv in levels])
    cut = core.std.SetFrameProps(clip, _SceneChangePrev=1, _SceneChangeNext=1)  # every frame is a cut
    out = colorize(cut, tint, render_factor=4, temporal_radius=2)
    _, v = om.expected_chroma(110 / 255, SCALE, BIAS, matrix=6)
    np.testing.assert_allclose(np.asarray(out.get_frame(1)[2]), v, atol=1e-5)


def test_nothing_on_stdout(tint: Path, capfd: pytest.CaptureFixture[str]) -> None:
    out = colorize(om.noise_clip(vs.YUV420P8), tint, render_factor=4, temporal_radius=1)
    for _ in out.frames():
        pass
    assert capfd.readouterr().out == ""


def test_bestsource_film(tint: Path, film: Path) -> None:
    path = film
    src = core.bs.VideoSource(str(path), cachemode=0, showprogress=0)[:3]
    out = colorize(src, tint, render_factor=6)
    assert out.format.id == src.format.id and (out.width, out.height) == (src.width, src.height)
    for n in range(3):
        a, b = src.get_frame(n), out.get_frame(n)
        np.testing.assert_array_equal(np.asarray(a[0]), np.asarray(b[0]))
        assert b.props["_Matrix"] in (1, 5, 6) and b.props["_Range"] in (0, 1)
        assert b.props["VSColorizeModel"] == "tint.onnx"
        assert float(np.asarray(b[2]).std()) > 0.5  # chroma follows the film's luma


def _ramp(fmt: int, width: int = 96, height: int = 64, **props: int) -> vs.VideoNode:
    """Float luma rising linearly left to right (0.2 → 0.8), flat chroma, optional frame props."""
    blank = core.std.BlankClip(format=fmt, width=width, height=height, length=1, keep=True)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        np.asarray(out[0])[...] = 0.2 + 0.6 * np.arange(width, dtype=np.float32) / (width - 1)
        for p in range(1, f.format.num_planes):
            np.asarray(out[p])[...] = 0.0
        return out

    clip = blank.std.ModifyFrame(blank, fill)
    return core.std.SetFrameProps(clip, **props) if props else clip


@pytest.mark.parametrize(
    ("fmt", "props", "offset"),
    [(vs.YUV420PS, {"_ChromaLocation": 0}, 0.0), (vs.YUV420PS, {"_ChromaLocation": 1}, 0.5),
     (vs.YUV420PS, {}, 0.0), (vs.GRAYS, {}, 0.0)],
    ids=["left", "center", "unset-is-left", "gray-to-420-is-left"],
)  # fmt: skip
def test_chroma_follows_the_source_siting(
    tmp_path: Path, fmt: int, props: dict[str, int], offset: float
) -> None:
    """Every resample here is linear, so on a luma ramp each 4:2:0 chroma sample carries the model's colour
    of the luma at its own position: x = 2i (left, _ChromaLocation 0) or 2i + 0.5 (centre, 1). A source
    without the prop, and a GRAY source made 4:2:0, are left-sited (and say so)."""
    model = om.luma_tint(tmp_path / "luma_tint.onnx")  # R = y, G = 1 - y, B = 0.5
    src = _ramp(fmt, **props, _Matrix=6, _Range=1)
    f = colorize(src, model, render_factor=4).get_frame(0)
    assert f.format.id == vs.YUV420PS
    assert f.props.get("_ChromaLocation", 0) == props.get("_ChromaLocation", 0)
    width = src.width
    x = 2 * np.arange(width // 2) + offset
    y = 0.2 + 0.6 * x / (width - 1)
    kr, kb = om.KR_KB[6]
    luma = kr * y + (1 - kr - kb) * (1 - y) + kb * 0.5
    u, v = (0.5 - luma) / (2 * (1 - kb)), (y - luma) / (2 * (1 - kr))
    inner = slice(2, width // 2 - 2)  # away from the mirrored borders
    for plane, want in ((1, u), (2, v)):
        got = np.asarray(f[plane])
        np.testing.assert_allclose(
            got[:, inner], np.broadcast_to(want[inner], got[:, inner].shape), atol=2e-4
        )
    # the two sitings are half a luma pixel apart: V moves ~0.92 · 0.6 / 95 / 2 ≈ 3e-3, far above the tolerance
    assert abs(np.diff(v[inner]).mean()) / 4 > 5 * 2e-4


@pytest.fixture(scope="module")
def tiny_generator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``tiny`` preset generator (a real convolutional U-Net, filled weights) exported to ONNX at 64²."""
    import torch
    from test_export_onnx import filled_tiny

    from vs_colorize.export.onnx import to_onnx

    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("tiny") / "tiny.onnx"
    to_onnx(filled_tiny(), path, render_size=64, check=False)  # parity is test_export_onnx's job
    return path


def test_streams_and_threads_identical_with_a_real_generator(tiny_generator: Path) -> None:
    """Convolutions split over threads and frames over streams must not change a single output byte."""
    src = om.noise_clip(vs.YUV444PS, 96, 64, length=4)  # float output: no rounding hides a difference

    def render(backend: ORT) -> list[list[np.ndarray]]:
        return [planes(f) for f in colorize(src, tiny_generator, render_factor=4, backend=backend).frames()]

    reference = render(ORT(num_streams=1, intra_op_threads=1))
    assert float(np.std(reference[0][1])) > 0.01  # the generator really colours (not a flat chroma)
    for backend in (ORT(num_streams=2, intra_op_threads=1), ORT(num_streams=1, intra_op_threads=2)):
        for ref, got in zip(reference, render(backend), strict=True):
            for a, b in zip(ref, got, strict=True):
                np.testing.assert_array_equal(a, b)
