"""Encoders: lossless round trips, colour tags, fps and frame count, audio copy, codec checks, stills."""

from __future__ import annotations

import io
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import vapoursynth as vs

from vs_colorize.io.encode import EncodeSettings, check_codec, encode_pyav
from vs_colorize.io.ffmpeg import encode_ffmpeg
from vs_colorize.io.formats import ColourTags
from vs_colorize.io.image import encode_image, image_names, to_image_clip
from vs_colorize.io.source import open_source
from vs_colorize.progress import Progress, format_duration

core = vs.core


def write_synthetic(
    path: Path, *, frames: int = 20, fps: int = 25, size: tuple[int, int] = (64, 48), audio: bool = True
) -> Path:
    """A small x264 clip (moving gradient) with, optionally, a 440 Hz AAC track of the same length."""
    w, h = size
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = out.add_stream("aac", rate=48000, layout="mono") if audio else None
        ramp = np.add.outer(np.arange(h), np.arange(w)).astype(np.uint8)
        for i in range(frames):
            planes = np.concatenate([ramp * 2 + i, np.full((h // 2, w), 100 + i, np.uint8)])
            frame = av.VideoFrame.from_ndarray(planes.astype(np.uint8), format="yuv420p")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        if a is not None:
            samples = 48000 * frames // fps
            for t in range(0, samples, 1024):
                n = min(1024, samples - t)
                tone = np.sin(2 * np.pi * 440 * (np.arange(n) + t) / 48000).astype(np.float32)[None]
                af = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
                af.sample_rate, af.pts = 48000, t
                out.mux(a.encode(af))
            out.mux(a.encode(None))
    return path  # fmt: skip


def decode_all(path: Path) -> tuple[dict[str, object], list[av.VideoFrame]]:
    """The video stream's rate, codec and colour tags (matrix, primaries, transfer, range), and its frames."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        ctx = stream.codec_context
        tags = (ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range)
        info = {"rate": stream.average_rate, "codec": ctx.name, "tags": tuple(int(t) for t in tags)}
        return info, list(c.decode(stream))


def assert_planes(frame: av.VideoFrame, ref: vs.VideoFrame) -> None:
    dtype = np.uint8 if ref.format.bytes_per_sample == 1 else np.uint16
    for p in range(ref.format.num_planes):
        plane = frame.planes[p]
        got = np.frombuffer(plane, dtype).reshape(plane.height, -1)[
            :, : ref.width >> (p and ref.format.subsampling_w)
        ]
        assert np.array_equal(got, np.asarray(ref[p])), f"plane {p} differs"


def audio_packets(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for p in c.demux(c.streams.audio[0]) if p.size) if c.streams.audio else 0


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("media") / "synthetic.mp4")


@pytest.mark.parametrize(
    ("fmt", "rng", "matrix"),
    [(vs.YUV420P8, 0, vs.MATRIX_ST170_M), (vs.YUV420P8, 1, vs.MATRIX_BT709), (vs.YUV420P10, 0, vs.MATRIX_BT709), (vs.GRAY8, 1, None)],
)  # fmt: skip
def test_ffv1_round_trip_is_lossless_and_tagged(
    tmp_path: Path, synthetic: Path, fmt: int, rng: int, matrix: int | None
) -> None:
    clip = core.resize.Point(open_source(synthetic), format=fmt)
    props = {"_Range": rng, "_Primaries": 1, "_Transfer": 1} | ({"_Matrix": matrix} if matrix else {})
    clip = core.std.SetFrameProps(clip, **props)
    out = tmp_path / "out.mkv"
    assert encode_pyav(clip, out, EncodeSettings(codec="ffv1")) == 20
    info, frames = decode_all(out)
    assert len(frames) == 20 and info["rate"] == 25
    assert info["tags"] == (matrix if matrix else 2, 1, 1, {0: 1, 1: 2}[rng])
    for n, frame in enumerate(frames):
        assert_planes(frame, clip.get_frame(n))  # fmt: skip


def test_x264_mp4_keeps_fps_count_and_tags(tmp_path: Path, synthetic: Path) -> None:
    clip = core.std.SetFrameProps(open_source(synthetic), _Matrix=1, _Range=0, _Primaries=1, _Transfer=1)
    clip = core.std.AssumeFPS(clip, fpsnum=24000, fpsden=1001)
    out = tmp_path / "out.mp4"
    encode_pyav(clip, out, EncodeSettings(codec="x264", crf=30, preset="ultrafast"))
    info, frames = decode_all(out)
    assert (len(frames), info["rate"], info["codec"]) == (20, Fraction(24000, 1001), "h264")
    assert info["tags"] == (1, 1, 1, 1)
    with av.open(str(out)) as c:
        assert c.duration / 1e6 == pytest.approx(20 * 1001 / 24000, abs=0.01)


@pytest.mark.parametrize("ext", [".mkv", ".mp4"])
def test_audio_is_copied_packet_for_packet(tmp_path: Path, synthetic: Path, ext: str) -> None:
    out = tmp_path / f"out{ext}"
    encode_pyav(open_source(synthetic), out, EncodeSettings(codec="ffv1"), audio_from=synthetic)
    assert audio_packets(out) == audio_packets(synthetic) > 0
    with av.open(str(out)) as c, av.open(str(synthetic)) as ref:
        assert c.streams.audio[0].codec_context.name == "aac"
        assert c.duration == pytest.approx(ref.duration, abs=50_000)  # within 50 ms (one AAC packet)


def test_audio_window_follows_a_chunk(tmp_path: Path, synthetic: Path) -> None:
    out = tmp_path / "chunk.mkv"
    clip = open_source(synthetic)[10:20]
    encode_pyav(
        clip,
        out,
        EncodeSettings(codec="ffv1"),
        audio_from=synthetic,
        audio_window=(Fraction(10, 25), Fraction(20, 25)),
    )
    with av.open(str(out)) as c:
        times = [float(p.pts * p.time_base) for p in c.demux(c.streams.audio[0]) if p.size]
    assert times[0] < 0.03 and 0.35 < times[-1] < 0.42  # shifted to 0, 0.4 s long, packet-exact
    assert 17 <= len(times) <= 20  # 0.4 s of 1024-sample packets at 48 kHz ≈ 18.75


def test_no_audio_when_disabled(tmp_path: Path, synthetic: Path) -> None:
    out = tmp_path / "out.mkv"
    encode_pyav(open_source(synthetic), out, EncodeSettings(codec="ffv1", audio=False), audio_from=synthetic)
    assert audio_packets(out) == 0


def test_codec_checks_name_the_problem() -> None:
    yuv, gray16 = core.get_video_format(vs.YUV420P8), core.get_video_format(vs.GRAY16)
    assert check_codec(EncodeSettings(codec="x265"), yuv, "matroska") == "yuv420p"
    with pytest.raises(ValueError, match="not an encoder"):
        check_codec(EncodeSettings(codec="nosuchcodec"), yuv, "matroska")
    with pytest.raises(ValueError, match="cannot go into a mov"):
        check_codec(EncodeSettings(codec="ffv1"), yuv, "mov")
    with pytest.raises(ValueError, match="cannot write Gray16"):
        check_codec(EncodeSettings(codec="x264"), gray16, "matroska")
    with pytest.raises(ValueError, match="takes no crf"):
        EncodeSettings(codec="ffv1", crf=10).validate()
    with pytest.raises(ValueError, match=r"crf must be in 0\.\.51"):
        EncodeSettings(codec="x264", crf=60).validate()
    with pytest.raises(ValueError, match="preset must be one of"):
        EncodeSettings(codec="x265", preset="warp").validate()


def test_ffmpeg_tags_map_from_props() -> None:
    frame = core.std.SetFrameProps(core.std.BlankClip(format=vs.YUV420P8), _Matrix=6, _Range=1).get_frame(0)
    tags = ColourTags.from_frame(frame)
    assert tags.ffmpeg_args() == ["-colorspace", "smpte170m", "-color_range", "pc"]
    rgb = ColourTags.from_frame(core.std.BlankClip(format=vs.RGB24).get_frame(0))
    assert (rgb.matrix, rgb.range) == (0, 2)


def test_ffmpeg_binary_encoder(tmp_path: Path, synthetic: Path, ffmpeg: str) -> None:
    binary = ffmpeg
    # full range: ffmpeg 9.0 rescaled the luma when only the output was tagged
    clip = core.std.SetFrameProps(open_source(synthetic), _Matrix=1, _Range=1, _Primaries=1, _Transfer=1)
    out = tmp_path / "out.mkv"
    seen: list[int] = []
    assert (
        encode_ffmpeg(
            clip, out, EncodeSettings(codec="ffv1"), audio_from=synthetic, progress=seen.append, ffmpeg=binary
        )
        == 20
    )
    assert seen[-1] == 20
    info, frames = decode_all(out)
    assert (len(frames), info["rate"]) == (20, 25)
    assert info["tags"] == (1, 1, 1, 2)
    for n, frame in enumerate(frames):
        assert_planes(frame, clip.get_frame(n))
    assert audio_packets(out) == audio_packets(synthetic)  # fmt: skip


def test_still_image_round_trip(tmp_path: Path, synthetic: Path) -> None:
    clip = to_image_clip(core.std.SetFrameProps(open_source(synthetic)[:1], _Matrix=1))
    assert clip.format.id == vs.RGB24
    for codec, ext in (("png", ".png"), ("tiff", ".tif")):
        path = tmp_path / f"still{ext}"
        path.write_bytes(encode_image(clip.get_frame(0), codec))
        back = open_source(path)
        assert back.format.id == vs.RGB24
        for p in range(3):
            assert np.array_equal(np.asarray(back.get_frame(0)[p]), np.asarray(clip.get_frame(0)[p]))


def test_image_sequence_names(tmp_path: Path) -> None:
    names = image_names(tmp_path / "f_%04d.png", 100, 3)
    assert [n.name for n in names] == ["f_0100.png", "f_0101.png", "f_0102.png"]
    assert image_names(tmp_path / "one.png", 7, 1) == [tmp_path / "one.png"]
    with pytest.raises(ValueError, match="frame-number pattern"):
        image_names(tmp_path / "one.png", 0, 2)


def test_progress_bar_goes_to_its_stream_only_when_enabled() -> None:
    stream = io.StringIO()
    bar = Progress(10, label="colorize", enabled=True, stream=stream)
    for n in range(1, 11):
        bar.update(n)
    bar.close()
    text = stream.getvalue()
    assert "colorize [" in text and "10/10" in text and "fps" in text and "ETA" in text
    quiet = io.StringIO()
    Progress(10, enabled=False, stream=quiet).update(5)
    assert quiet.getvalue() == ""
    assert Progress(3, stream=io.StringIO()).enabled is False  # not a terminal
    assert (format_duration(3725), format_duration(float("nan"))) == ("1:02:05", "--:--")


def test_output_files_get_the_usual_mode(tmp_path: Path, synthetic: Path) -> None:
    from vs_colorize.io.render import plan_output, prepare_clip, write_output

    plan = plan_output(tmp_path / "out.mkv", frames=20)
    settings = EncodeSettings(codec="ffv1")
    write_output(prepare_clip(open_source(synthetic), plan, settings), plan, settings)
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "out.mkv").stat().st_mode & 0o777 == 0o666 & ~umask


def test_variable_frame_rate_keeps_each_frame_duration(tmp_path: Path, synthetic: Path) -> None:
    src = open_source(synthetic)
    vfr = core.std.Splice([src[:4], core.std.AssumeFPS(src[4:8], fpsnum=10)], mismatch=True)
    assert vfr.fps == 0  # variable: durations live in the frame props
    out = tmp_path / "vfr.mkv"
    encode_pyav(vfr, out, EncodeSettings(codec="ffv1"))
    with pytest.raises(ValueError, match="constant frame rate"):
        encode_ffmpeg(vfr, tmp_path / "y4m.mkv", EncodeSettings(codec="ffv1"), ffmpeg="ffmpeg")
    times = [float(f.time) for f in decode_all(out)[1]]
    steps = np.diff(times)
    assert len(times) == 8
    assert np.allclose(steps[:4], 0.04, atol=0.001) and np.allclose(steps[4:], 0.1, atol=0.001)


def test_sample_aspect_ratio_is_kept(tmp_path: Path, synthetic: Path, ffmpeg: str) -> None:
    clip = core.std.SetFrameProps(open_source(synthetic), _SARNum=4, _SARDen=3)
    outs = [tmp_path / "pyav.mkv", tmp_path / "ffmpeg.mkv"]
    encode_pyav(clip, outs[0], EncodeSettings(codec="x264", preset="ultrafast"))
    encode_ffmpeg(clip, outs[1], EncodeSettings(codec="ffv1"), ffmpeg=ffmpeg)
    for out in outs:
        with av.open(str(out)) as c:
            assert c.streams.video[0].sample_aspect_ratio == Fraction(4, 3), out.name
