"""Keyframe colour propagation and motion-compensated smoothing: chroma, cuts, errors, luma, determinism."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import moving as mv
import numpy as np
import onnx_models as om
import pytest
import vapoursynth as vs
from test_colorize import YUV_GRAY_FORMATS

from vs_colorize import colorize
from vs_colorize.backends import ORT
from vs_colorize.cli import EXIT_USAGE, main
from vs_colorize.filters import motion, scene_smoothing

core = vs.core
SCALE, BIAS = (1.0, 0.6, 0.3), (0.1, 0.05, 0.0)


@pytest.fixture(scope="module")
def tint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return om.tint(tmp_path_factory.mktemp("m") / "tint.onnx", SCALE, BIAS)


@pytest.fixture(scope="module")
def scene() -> tuple[vs.VideoNode, vs.VideoNode]:
    rgb = mv.colour_motion(length=8)
    return rgb, mv.grey(rgb)


def err(a: vs.VideoFrame, b: vs.VideoFrame) -> float:
    return float(np.abs(mv.chroma(a) - mv.chroma(b)).mean())


def test_keyframe_chroma_is_the_keyframes(tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode]) -> None:
    rgb, src = scene
    truth = mv.to_yuv(rgb)
    out = colorize(src, tint, render_factor=4, keyframes={3: rgb[3]})
    f = out.get_frame(3)
    np.testing.assert_array_equal(mv.chroma(f), mv.chroma(truth.get_frame(3)))
    np.testing.assert_array_equal(np.asarray(f[0]), np.asarray(src.get_frame(3)[0]))


def test_keyframe_colour_is_carried_along_the_motion(
    tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode]
) -> None:
    rgb, src = scene
    truth = mv.to_yuv(rgb)
    model = colorize(src, tint, render_factor=4)
    keyed = colorize(src, tint, render_factor=4, keyframes={0: rgb[0], 7: rgb[7]})
    for n in (2, 4, 5):
        t = truth.get_frame(n)
        assert err(keyed.get_frame(n), t) < 0.4 * err(model.get_frame(n), t), f"frame {n}"
    # the motion matters: the keyframe's chroma left where it was is much worse than carried
    still = colorize(src, tint, render_factor=4, keyframes={0: rgb[0]})
    unmoved = mv.chroma(truth.get_frame(0))
    assert (
        err(still.get_frame(2), truth.get_frame(2))
        < 0.5 * np.abs(unmoved - mv.chroma(truth.get_frame(2))).mean()
    )


def test_propagation_stops_at_a_cut(tint: Path) -> None:
    a_rgb, b_rgb = mv.colour_motion(length=5, seed=1), mv.colour_motion(length=5, seed=2, step=(-2, 1))
    src = mv.grey(a_rgb) + mv.grey(b_rgb)
    model = colorize(src, tint, render_factor=4)
    keyed = colorize(src, tint, render_factor=4, keyframes={4: a_rgb[4]})
    for n in range(5, 10):
        np.testing.assert_array_equal(
            mv.chroma(keyed.get_frame(n)), mv.chroma(model.get_frame(n)), f"frame {n}"
        )
    assert err(keyed.get_frame(3), model.get_frame(3)) > 1.0  # before the cut it does carry


def _marked_cut(clip: vs.VideoNode, at: int) -> vs.VideoNode:
    """``clip`` with a cut marked (source props) between ``at - 1`` and ``at``; the picture runs on."""
    head = core.std.SetFrameProps(clip[at - 1], _SceneChangeNext=1)
    tail = core.std.SetFrameProps(clip[at], _SceneChangePrev=1)
    return clip[: at - 1] + head + tail + clip[at + 1 :]


def test_propagation_stops_at_a_marked_cut(tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode]) -> None:
    # the picture goes on across the cut, so only our cut marks (not MVTools' own scene check) stop it
    rgb, src = scene
    cut = _marked_cut(src, 4)
    model = colorize(cut, tint, render_factor=4)
    keyed = colorize(cut, tint, render_factor=4, keyframes={2: rgb[2]})
    for n in range(4, 8):
        np.testing.assert_array_equal(
            mv.chroma(keyed.get_frame(n)), mv.chroma(model.get_frame(n)), f"frame {n}"
        )
    assert err(keyed.get_frame(3), model.get_frame(3)) > 1.0


def test_mc_smoothing_resets_at_a_marked_cut(tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode]) -> None:
    _, src = scene
    both = colorize(_marked_cut(src, 4), tint, render_factor=4, temporal_radius=2, temporal_mode="mc")
    alone = colorize(src[4:], tint, render_factor=4, temporal_radius=2, temporal_mode="mc")
    for n in range(4):
        np.testing.assert_array_equal(mv.chroma(both.get_frame(4 + n)), mv.chroma(alone.get_frame(n)))


def test_keyframe_of_another_size_is_resized(tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode]) -> None:
    rgb, src = scene
    big = core.resize.Bicubic(rgb[2], 128, 96)
    out = colorize(src, tint, render_factor=4, keyframes={2: big})
    assert (out.width, out.height) == (64, 48)
    assert err(out.get_frame(2), mv.to_yuv(rgb).get_frame(2)) < 2.0


def test_wrong_frame_keyframe_is_reported(
    tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode], caplog: pytest.LogCaptureFixture
) -> None:
    rgb, src = scene
    other = mv.colour_motion(seed=7)
    with caplog.at_level(logging.WARNING, logger="vs_colorize"):
        colorize(src, tint, render_factor=4, keyframes={2: rgb[2], 5: other[5]})
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "keyframe 5 does not match frame 5" in warnings[0], warnings


def test_keyframe_folder(tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode], tmp_path: Path) -> None:
    from vs_colorize.io.image import encode_image

    rgb, src = scene
    (tmp_path / "00003.png").write_bytes(encode_image(rgb.get_frame(3), "png"))
    (tmp_path / "notes.txt").write_text("not a keyframe")
    out = colorize(src, tint, render_factor=4, keyframes=tmp_path)
    np.testing.assert_array_equal(mv.chroma(out.get_frame(3)), mv.chroma(mv.to_yuv(rgb).get_frame(3)))


def test_keyframe_errors(tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode], tmp_path: Path) -> None:
    rgb, src = scene
    with pytest.raises(vs.Error, match=r"colorize: keyframes folder '.*nowhere' does not exist"):
        colorize(src, tint, render_factor=4, keyframes=tmp_path / "nowhere")
    with pytest.raises(
        vs.Error, match=r"colorize: keyframes folder .* holds no images named by frame number"
    ):
        colorize(src, tint, render_factor=4, keyframes=tmp_path)
    with pytest.raises(vs.Error, match=r"colorize: keyframes: frame number 8 is not in 0\.\.7"):
        colorize(src, tint, render_factor=4, keyframes={8: rgb[0]})
    with pytest.raises(vs.Error, match=r"colorize: keyframes: the picture for frame 1 is Gray8"):
        colorize(src, tint, render_factor=4, keyframes={1: src.std.ShufflePlanes(0, vs.GRAY)})
    with pytest.raises(vs.Error, match=r"colorize: temporal_mode must be one of"):
        colorize(src, tint, render_factor=4, temporal_mode="motion")


def test_mc_smoothing_follows_the_motion(tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode]) -> None:
    _, src = scene
    # the tint model's chroma is a function of the pixel's own luma: a motion-aligned mean stays close to
    # the per-frame render, a plain mean over a panning texture smears it
    per_frame = colorize(src, tint, render_factor=4)
    plain = colorize(src, tint, render_factor=4, temporal_radius=2)
    mc = colorize(src, tint, render_factor=4, temporal_radius=2, temporal_mode="mc")
    for n in (3, 4):
        ref = per_frame.get_frame(n)
        assert err(mc.get_frame(n), ref) < 0.5 * err(plain.get_frame(n), ref), f"frame {n}"


@pytest.fixture
def model_runs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """The input shapes of every ONNX Runtime model run from here on (the model is wrapped, not replaced)."""
    from vs_colorize.backends import ort

    runs: list[tuple[int, ...]] = []
    real = ort.OrtSession.__call__

    def counted(self: ort.OrtSession, x: np.ndarray) -> np.ndarray:
        runs.append(x.shape)
        return real(self, x)

    monkeypatch.setattr(ort.OrtSession, "__call__", counted)
    return runs


def test_mc_graph_is_built_without_running_the_model(
    tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode], model_runs: list[tuple[int, ...]]
) -> None:
    # MVTools' constructors read frame 0 of their clips; built on the render they ran the model on frames
    # 0..radius while colorize() built the graph (wasted in every CLI chunk, invisible to timings)
    _, src = scene
    out = colorize(src, tint, 4, ORT(), temporal_radius=2, temporal_mode="mc")
    assert model_runs == []
    out.get_frame(src.num_frames - 1)
    assert 1 <= len(model_runs) <= 3  # frames len-3 .. len-1 only


def test_mc_smoothing_resets_at_cuts(tint: Path) -> None:
    a, b = mv.grey(mv.colour_motion(length=5, seed=1)), mv.grey(mv.colour_motion(length=5, seed=2))
    both = colorize(a + b, tint, render_factor=4, temporal_radius=2, temporal_mode="mc")
    alone = colorize(b, tint, render_factor=4, temporal_radius=2, temporal_mode="mc")
    for n in range(5):
        np.testing.assert_array_equal(mv.chroma(both.get_frame(5 + n)), mv.chroma(alone.get_frame(n)))


def chromas(clip: vs.VideoNode) -> list[np.ndarray]:
    return [mv.chroma(f) for f in clip.frames()]


KEYS_0_6 = (0, 6)


def _keyed(rgb: vs.VideoNode, src: vs.VideoNode, tint: Path, **kw: object) -> vs.VideoNode:
    return colorize(src, tint, 4, keyframes={k: rgb[k] for k in KEYS_0_6}, **kw)


@pytest.mark.parametrize("mode", ["average", "mc"])
def test_smoothing_with_keyframes_changes_the_frames_between_and_keeps_the_keys(
    tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode], mode: str
) -> None:
    # the smoothing works on the blended chroma: before, it only touched the model's small share of the blend
    rgb, src = scene
    keyed = chromas(_keyed(rgb, src, tint))
    out = chromas(_keyed(rgb, src, tint, temporal_radius=1, temporal_mode=mode))
    truth = chromas(mv.to_yuv(rgb))
    for k in KEYS_0_6:
        np.testing.assert_array_equal(out[k], truth[k], f"keyframe {k}")
    for n in range(1, 6):
        assert np.abs(out[n] - keyed[n]).mean() > 0.2, f"frame {n}"


def test_average_with_keyframes_is_the_mean_of_the_blended_frames(
    tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode]
) -> None:
    rgb, src = scene
    keyed = chromas(_keyed(rgb, src, tint))
    out = chromas(_keyed(rgb, src, tint, temporal_radius=1))
    for n in range(1, 6):  # the keyframes 0 and 6 count as neighbours; 8-bit output rounds the mean
        assert np.abs(out[n] - np.mean(keyed[n - 1 : n + 2], axis=0)).max() <= 0.5, f"frame {n}"


def test_mc_with_keyframes_does_not_smear_their_colour(
    tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode]
) -> None:
    # the docs' reason to use mc with keyframes: the plain mean of a panning texture's colour smears it
    rgb, src = scene
    truth = chromas(mv.to_yuv(rgb))
    plain = chromas(_keyed(rgb, src, tint, temporal_radius=1))
    mc = chromas(_keyed(rgb, src, tint, temporal_radius=1, temporal_mode="mc"))
    between = range(1, 6)
    err_mc = np.mean([np.abs(mc[n] - truth[n]).mean() for n in between])
    err_plain = np.mean([np.abs(plain[n] - truth[n]).mean() for n in between])
    assert err_mc < 0.7 * err_plain, (err_mc, err_plain)


def _subpixel_pan(step: tuple[int, int]) -> vs.VideoNode:
    """4:2:0 truth of a texture panning by ``step``/2 luma pixels per frame (made at twice the size)."""
    big = mv.colour_motion(width=256, height=192, length=7, step=step)
    return mv.to_yuv(core.resize.Bicubic(big, 128, 96))


def _smooth_truth(truth: vs.VideoNode, mode: str) -> float:
    """Mean chroma error of ``smooth_chroma`` (radius 1) on the truth itself, frames 1..5."""
    luma = truth.std.ShufflePlanes(0, vs.GRAY)
    grey = core.resize.Point(luma, format=vs.GRAYS)
    cuts = scene_smoothing.mark_scene_changes(grey, grey, threshold=0.1)
    out = scene_smoothing.smooth_chroma(truth, luma, cuts, radius=1, mode=mode)
    return float(
        np.mean(
            [np.abs(mv.chroma(out.get_frame(n)) - mv.chroma(truth.get_frame(n))).mean() for n in range(1, 6)]
        )
    )


@pytest.mark.parametrize("step", [(3, 1), (1, 3)])
def test_mc_with_keyframes_aligns_subsampled_chroma_at_half_pixel_motion(step: tuple[int, int]) -> None:
    # searched at output size, MVTools moved 4:2:0 chroma by the luma vector halved and rounded down (a
    # systematic shift on odd half-pixel vectors): at 1.5 / 0.5 px per frame mc was no better than the plain
    # mean (3.20 vs 3.16 codes at (3, 1)); on the chroma planes' own grid it is 2.02
    truth = _subpixel_pan(step)
    err_mc, err_plain = _smooth_truth(truth, "mc"), _smooth_truth(truth, "average")
    assert err_mc < 0.8 * err_plain, (err_mc, err_plain)


def test_mc_with_keyframes_searches_on_the_chroma_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    # the cost at 1080p: MVTools works on the 4:2:0 chroma planes' size (a quarter of the output's pixels),
    # with blocks covering the same part of the picture as at output size (8x8 there, 4x4 on the grid)
    seen: list[tuple[int, int, int]] = []
    real = motion.super_clip

    def recorded(clip: vs.VideoNode, search: motion.Search, **kw: int) -> vs.VideoNode:
        seen.append((clip.width, clip.height, search.blksize))
        return real(clip, search, **kw)

    monkeypatch.setattr(motion, "super_clip", recorded)
    _smooth_truth(_subpixel_pan((2, 2)), "mc")
    assert seen and set(seen) == {(64, 48, 4)}, seen


@pytest.mark.parametrize(
    ("fmt", "width", "height", "blksize"),
    [
        (vs.YUV420P8, 256, 208, 4),
        (vs.YUV420P8, 1920, 1080, 8),
        (vs.YUV422P10, 1920, 1080, 8),
        (vs.YUV444P16, 256, 208, 8),
        (vs.YUV444P16, 1920, 1080, 16),
    ],
    ids=["420-256", "420-1080p", "422-1080p", "444-256", "444-1080p"],
)
def test_chroma_grid_blocks_cover_the_output_blocks_area(
    fmt: int, width: int, height: int, blksize: int
) -> None:
    clip = core.std.BlankClip(format=fmt, width=width, height=height, length=1)
    assert motion.Search.for_chroma_grid(clip) == motion.Search(blksize, blksize // 2)


@pytest.mark.parametrize("mode", ["average", "mc"])
def test_smoothing_with_keyframes_resets_at_cuts(tint: Path, mode: str) -> None:
    a_rgb, b_rgb = mv.colour_motion(length=5, seed=1), mv.colour_motion(length=5, seed=2)
    kw = {"temporal_radius": 2, "temporal_mode": mode}
    both = colorize(mv.grey(a_rgb) + mv.grey(b_rgb), tint, 4, keyframes={3: a_rgb[3], 7: b_rgb[2]}, **kw)
    alone = colorize(mv.grey(b_rgb), tint, 4, keyframes={2: b_rgb[2]}, **kw)
    for n in range(5):
        np.testing.assert_array_equal(mv.chroma(both.get_frame(5 + n)), mv.chroma(alone.get_frame(n)))


def test_mc_with_keyframes_graph_is_built_without_running_the_model(
    tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode], model_runs: list[tuple[int, ...]]
) -> None:
    rgb, src = scene
    out = colorize(
        src, tint, 4, ORT(), keyframes={0: rgb[0], 7: rgb[7]}, temporal_radius=2, temporal_mode="mc"
    )
    assert model_runs == []
    out.get_frame(1)
    assert 1 <= len(model_runs) <= 4  # frames 0..3 only: per frame, not the whole clip


def planes(frame: vs.VideoFrame) -> list[np.ndarray]:
    return [np.array(frame[p]) for p in range(frame.format.num_planes)]


@pytest.mark.parametrize("mode", ["average", "mc"])
def test_streams_and_threads_identical(
    tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode], mode: str
) -> None:
    rgb, src = scene
    kw = {"temporal_radius": 1, "temporal_mode": mode, "keyframes": {0: rgb[0], 6: rgb[6]}}
    reference = [planes(f) for f in colorize(src, tint, 4, ORT(num_streams=1), **kw).frames()]
    old = core.num_threads
    try:
        for threads in (1, 4):
            core.num_threads = threads
            for streams in (1, 3):
                out = colorize(src, tint, 4, ORT(num_streams=streams), **kw)
                for ref, f in zip(reference, out.frames(), strict=True):
                    for x, y in zip(ref, planes(f), strict=True):
                        np.testing.assert_array_equal(x, y)
    finally:
        core.num_threads = old


FORMATS = YUV_GRAY_FORMATS  # every format the luma test of the plain filter covers


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: core.get_video_format(f).name)
def test_luma_bit_identical_in_new_modes(tint: Path, fmt: int) -> None:
    rgb = mv.colour_motion(length=4)
    yuv = mv.to_yuv(rgb, vs.YUV444PS)
    info = core.get_video_format(fmt)
    src = core.resize.Point(
        yuv if info.color_family == vs.YUV else yuv.std.ShufflePlanes(0, vs.GRAY), format=fmt
    )
    brighter = core.std.Expr(rgb[1], "x 6 +")  # a keyframe graded differently: its luma must not leak in
    out = colorize(src, tint, render_factor=4, temporal_radius=1, temporal_mode="mc", keyframes={1: brighter})
    for n in range(4):
        np.testing.assert_array_equal(np.asarray(out.get_frame(n)[0]), np.asarray(src.get_frame(n)[0]))


@pytest.mark.parametrize("fmt", [vs.RGB24, vs.RGB48, vs.RGBS], ids=lambda f: core.get_video_format(f).name)
def test_rgb_luma_within_rounding_in_new_modes(tint: Path, fmt: int) -> None:
    rgb = mv.colour_motion(length=4)
    src = core.resize.Point(mv.grey(rgb), format=fmt, matrix_in=1)
    out = colorize(src, tint, render_factor=4, temporal_radius=1, temporal_mode="mc", keyframes={1: rgb[1]})
    step = 1.0 / ((1 << 8) - 1) if fmt == vs.RGB24 else 1.0 / 65535
    for n in range(4):
        a, b = (core.resize.Point(c, format=vs.YUV444PS, matrix=1).get_frame(n) for c in (src, out))
        assert np.abs(np.asarray(a[0]) - np.asarray(b[0])).max() <= 1.5 * step + 1e-6


def _grey_video(path: Path, clip: vs.VideoNode) -> Path:
    with av.open(str(path), "w") as out:
        s = out.add_stream("ffv1", rate=10)
        s.width, s.height, s.pix_fmt = clip.width, clip.height, "yuv420p"
        for f in clip.frames():
            planes = [np.asarray(f[p]) for p in range(3)]
            stacked = np.concatenate(
                [planes[0], planes[1].reshape(-1, clip.width), planes[2].reshape(-1, clip.width)]
            )
            out.mux(s.encode(av.VideoFrame.from_ndarray(stacked, format="yuv420p")))
        out.mux(s.encode(None))
    return path


def test_cli_keyframes(tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode], tmp_path: Path) -> None:
    from vs_colorize.io.image import encode_image

    rgb, src = scene
    video = _grey_video(tmp_path / "in.mkv", src)
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "2.png").write_bytes(encode_image(rgb.get_frame(2), "png"))
    out = tmp_path / "out.mkv"
    args = ["colorize", str(video), str(out), "--model", str(tint), "--render-factor", "4", "--codec", "ffv1"]
    assert (
        main([*args, "--keyframes", str(keys), "--temporal-radius", "1", "--temporal-mode", "mc", "-q"]) == 0
    )
    got = core.bs.VideoSource(str(out), cachemode=0)
    frame = got.get_frame(2)
    props = frame.props
    want = core.resize.Bicubic(rgb[2], format=vs.YUV420P8, matrix=props["_Matrix"], range=props["_Range"])
    assert np.abs(mv.chroma(frame) - mv.chroma(want.get_frame(0))).max() <= 1


def test_cli_keyframes_with_smoothing_same_across_streams_and_threads(
    tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode], tmp_path: Path
) -> None:
    from vs_colorize.io.image import encode_image

    rgb, src = scene
    video = _grey_video(tmp_path / "in.mkv", src)
    keys = tmp_path / "keys"
    keys.mkdir()
    for k in (1, 6):
        (keys / f"{k}.png").write_bytes(encode_image(rgb.get_frame(k), "png"))
    args = ["colorize", str(video), "--model", str(tint), "--render-factor", "4", "--codec", "ffv1", "-q"]
    args += ["--keyframes", str(keys), "--temporal-radius", "1", "--temporal-mode", "mc"]
    outs = []
    for streams, threads, smooth in (("1", "1", True), ("3", "4", True), ("1", "1", False)):
        out = tmp_path / f"out{streams}{smooth}.mkv"
        extra = args[2:] if smooth else args[2:-4]
        assert main([args[0], args[1], str(out), *extra, "--streams", streams, "--threads", threads]) == 0
        outs.append(core.bs.VideoSource(str(out), cachemode=0))
    for n in range(src.num_frames):
        a, b = (planes(o.get_frame(n)) for o in outs[:2])
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y, f"frame {n}")
    # and the smoothing did reach the file (frames between the keyframes differ from the unsmoothed blend)
    assert np.abs(mv.chroma(outs[0].get_frame(3)) - mv.chroma(outs[2].get_frame(3))).mean() > 0.2


def test_cli_missing_keyframes_folder(
    tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = _grey_video(tmp_path / "in.mkv", scene[1][:2])
    out = tmp_path / "out.mkv"
    args = ["colorize", str(video), str(out), "--model", str(tint), "--render-factor", "4"]
    assert main([*args, "--keyframes", str(tmp_path / "nope")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "colorize: keyframes folder" in err and "nope' does not exist" in err, err
    assert not out.exists()


def test_uncovered_area_falls_back_to_the_model(tint: Path) -> None:
    # a noisy patch appears from frame 1 on: the keyframe (frame 0) has no colour for it, so its blocks fail
    # the SAD check and keep the model's chroma, while the panning background still gets the keyframe's
    rgb = mv.colour_motion(length=4)
    noise = np.random.default_rng(3).integers(0, 256, (3, 16, 16), dtype=np.uint8)

    def paste(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        if n:
            for p in range(3):
                np.asarray(out[p])[16:32, 24:40] = noise[p]
        return out

    rgb = rgb.std.ModifyFrame(rgb, paste)
    src = mv.grey(rgb)
    model = colorize(src, tint, render_factor=4).get_frame(3)
    keyed = colorize(src, tint, render_factor=4, keyframes={0: rgb[0]}).get_frame(3)
    inner = (slice(None), slice(10, 14), slice(14, 18))  # chroma samples well inside the patch
    assert np.abs(mv.chroma(keyed)[inner] - mv.chroma(model)[inner]).max() <= 1
    truth = mv.to_yuv(rgb).get_frame(3)
    outside = (slice(None), slice(0, 6), slice(None))
    assert (
        np.abs(mv.chroma(keyed) - mv.chroma(truth))[outside].mean()
        < 0.5 * np.abs(mv.chroma(model) - mv.chroma(truth))[outside].mean()
    )


def test_cli_chunk_sees_keyframes_outside_it(
    tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode], tmp_path: Path
) -> None:
    from vs_colorize.io.image import encode_image

    rgb, src = scene
    video = _grey_video(tmp_path / "in.mkv", src)
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "000001.png").write_bytes(encode_image(rgb.get_frame(1), "png"))
    args = ["colorize", str(video), "--model", str(tint), "--render-factor", "4", "--codec", "ffv1", "-q"]
    whole, chunk = tmp_path / "whole.mkv", tmp_path / "chunk.mkv"
    assert main([args[0], args[1], str(whole), *args[2:], "--keyframes", str(keys)]) == 0
    assert main([args[0], args[1], str(chunk), *args[2:], "--keyframes", str(keys), "--frames", "2:5"]) == 0
    a, b = (core.bs.VideoSource(str(p), cachemode=0) for p in (whole, chunk))
    assert b.num_frames == 3
    for n in range(3):
        np.testing.assert_array_equal(mv.chroma(a.get_frame(2 + n)), mv.chroma(b.get_frame(n)))
    plain = tmp_path / "plain.mkv"
    assert main([args[0], args[1], str(plain), *args[2:], "--frames", "2:5"]) == 0
    c = core.bs.VideoSource(str(plain), cachemode=0)
    assert np.abs(mv.chroma(b.get_frame(0)) - mv.chroma(c.get_frame(0))).mean() > 1.0  # keyframe 1 reached it


def test_rgb_source_keyframe(tint: Path, scene: tuple[vs.VideoNode, vs.VideoNode]) -> None:
    # an RGB grey source: at the keyframe the output is the keyframe's colour with the source's luminance,
    # i.e. the keyframe itself within rounding (their luminance agrees)
    rgb, src = scene
    grey_rgb = core.resize.Point(src, format=vs.RGB24, matrix_in=1)
    out = colorize(grey_rgb, tint, render_factor=4, keyframes={2: rgb[2]}).get_frame(2)
    want = rgb.get_frame(2)
    diff = [np.abs(np.asarray(out[p], dtype=int) - np.asarray(want[p], dtype=int)) for p in range(3)]
    assert max(d.mean() for d in diff) < 0.5 and max(d.max() for d in diff) <= 1
    model = colorize(grey_rgb, tint, render_factor=4).get_frame(2)
    assert np.abs(np.asarray(model[0], dtype=int) - np.asarray(want[0], dtype=int)).mean() > 20
