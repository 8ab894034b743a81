"""The CLI's output options: stills and image sequences, the ffmpeg encoder, --pix-fmt, --streams, the PyAV
source, audio that does not fit a container."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
import vapoursynth as vs
from test_cli import colorize, model
from test_encode import audio_packets, decode_all, write_synthetic

from vs_colorize.cli import EXIT_OK, EXIT_USAGE

core = vs.core
__all__ = ["model"]  # a fixture shared with test_cli


def test_audio_that_does_not_fit_the_container(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, model: Path
) -> None:
    src = tmp_path / "pcm_u8.mkv"  # 8-bit PCM: Matroska takes it, MP4 does not
    with av.open(str(src), "w") as out:
        v = out.add_stream("ffv1", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = out.add_stream("pcm_u8", rate=8000, layout="mono")
        for i in range(4):
            frame = av.VideoFrame.from_ndarray(np.full((72, 64), 60 + i, np.uint8), format="yuv420p")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        samples = av.AudioFrame.from_ndarray(np.full((1, 1280), 128, np.uint8), format="u8", layout="mono")
        samples.sample_rate, samples.pts = 8000, 0
        out.mux(a.encode(samples))
        out.mux(a.encode(None))
    code, err = colorize(capsys, src, tmp_path / "out.mp4", model)
    assert code == EXIT_USAGE and "pcm_u8 audio cannot be copied into a mp4" in err
    assert not (tmp_path / "out.mp4").exists()
    assert colorize(capsys, src, tmp_path / "out.mp4", model, "--no-audio")[0] == EXIT_OK
    assert colorize(capsys, src, tmp_path / "out.mkv", model, "--codec", "ffv1")[0] == EXIT_OK
    assert audio_packets(tmp_path / "out.mkv") == audio_packets(src) > 0


def test_ffmpeg_encoder_without_ffmpeg(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    film: Path,
    model: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    code, err = colorize(capsys, film, tmp_path / "out.mkv", model, "--encoder", "ffmpeg", "--frames", "0:2")
    assert code == EXIT_USAGE and "no ffmpeg binary is on PATH" in err


def test_streams_render_the_same_frames(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, film: Path, model: Path
) -> None:
    one, two = tmp_path / "one.mkv", tmp_path / "two.mkv"
    assert colorize(capsys, film, one, model, "--codec", "ffv1", "--frames", "0:6")[0] == EXIT_OK
    code, err = colorize(capsys, film, two, model, "--codec", "ffv1", "--frames", "0:6", "--streams", "3")
    assert code == EXIT_OK
    assert "colorize: autoselected backend" in err and "num_streams=3" in err  # the backend took --streams
    a, b = ([f.to_ndarray() for f in decode_all(p)[1]] for p in (one, two))
    assert len(a) == len(b) == 6 and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_pyav_source_renders_the_same_luma(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, film: Path, model: Path
) -> None:
    out = tmp_path / "out.mkv"
    assert (
        colorize(capsys, film, out, model, "--codec", "ffv1", "--frames", "100:104", "--source", "pyav")[0]
        == EXIT_OK
    )
    src = core.bs.VideoSource(str(film), cachemode=0, showprogress=0)
    for n, frame in enumerate(decode_all(out)[1]):
        y = np.frombuffer(frame.planes[0], np.uint8).reshape(320, -1)[:, :432]
        assert np.array_equal(y, np.asarray(src.get_frame(100 + n)[0]))


def test_still_images_and_sequences(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data_dir: Path, film: Path, model: Path
) -> None:
    photo = data_dir / "bw_historical_photos/ddcolor_einstein.jpg"
    out = tmp_path / "einstein.png"
    assert colorize(capsys, photo, out, model)[0] == EXIT_OK
    with av.open(str(out)) as c:
        img = next(c.decode(video=0))
    assert (img.width, img.height, img.format.name) == (728, 971, "rgb24")
    rgb = img.to_ndarray().reshape(-1, 3).astype(float).mean(axis=0)
    assert rgb[0] > rgb[2] + 5  # tinted warm, not grey
    code, err = colorize(capsys, film, tmp_path / "f_%04d.png", model, "--frames", "10:13")
    assert code == EXIT_OK, err
    assert sorted(p.name for p in tmp_path.glob("f_*.png")) == ["f_0010.png", "f_0011.png", "f_0012.png"]
    code, err = colorize(capsys, film, tmp_path / "one.png", model, "--frames", "0:2")
    assert code == EXIT_USAGE and "frame-number pattern" in err
    # an interrupted sequence resumes: existing images stay untouched, only the missing one is rendered
    (tmp_path / "f_0011.png").unlink()
    kept = (tmp_path / "f_0010.png").stat().st_mtime_ns
    assert colorize(capsys, film, tmp_path / "f_%04d.png", model, "--frames", "10:13")[0] == EXIT_USAGE
    code, err = colorize(capsys, film, tmp_path / "f_%04d.png", model, "--frames", "10:13", "--skip-existing")
    assert code == EXIT_OK and "1 frames in" in err
    assert (tmp_path / "f_0011.png").is_file() and (tmp_path / "f_0010.png").stat().st_mtime_ns == kept
    code, err = colorize(capsys, film, tmp_path / "f_%04d.png", model, "--frames", "10:13", "--skip-existing")
    assert code == EXIT_OK and "exist, skipping" in err


def test_ffmpeg_encoder_from_the_cli(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    model: Path,
    monkeypatch: pytest.MonkeyPatch,
    ffmpeg: str,
) -> None:
    binary = ffmpeg
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "ffmpeg").symlink_to(binary)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    src = write_synthetic(tmp_path / "with_audio.mp4", frames=12)
    out = tmp_path / "out.mkv"
    code, err = colorize(capsys, src, out, model, "--encoder", "ffmpeg", "--codec", "ffv1")
    assert code == EXIT_OK, err
    info, frames = decode_all(out)
    assert (len(frames), info["rate"], info["tags"]) == (12, 25, (6, 2, 2, 1))
    assert audio_packets(out) == audio_packets(src)
    source = core.bs.VideoSource(str(src), cachemode=0, showprogress=0)
    for n, frame in enumerate(frames):
        y = np.frombuffer(frame.planes[0], np.uint8).reshape(48, -1)[:, :64]
        assert np.array_equal(y, np.asarray(source.get_frame(n)[0]))


def test_pix_fmt_converts_before_encoding(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, film: Path, model: Path
) -> None:
    prores = tmp_path / "out.mov"  # without --pix-fmt: the accepted format that loses least (4:2:2 10-bit)
    code, err = colorize(capsys, film, prores, model, "--codec", "prores", "--frames", "0:3")
    assert code == EXIT_OK, err
    info, frames = decode_all(prores)
    assert (len(frames), info["codec"], frames[0].format.name) == (3, "prores", "yuv422p10le")
    args = ("--codec", "prores", "--pix-fmt", "yuv444p10le", "--frames", "0:3", "--overwrite")
    assert colorize(capsys, film, prores, model, *args)[0] == EXIT_OK  # --pix-fmt wins
    assert decode_all(prores)[1][0].format.name == "yuv444p12le"  # FFmpeg decodes 4444 at 12 bits
    lossless = tmp_path / "out.mkv"  # 8 -> 10 bit keeps the luma exactly (x4)
    assert (
        colorize(
            capsys, film, lossless, model, "--codec", "ffv1", "--pix-fmt", "yuv422p10le", "--frames", "0:3"
        )[0]
        == EXIT_OK
    )
    src = core.bs.VideoSource(str(film), cachemode=0, showprogress=0)
    for n, frame in enumerate(decode_all(lossless)[1]):
        y = np.frombuffer(frame.planes[0], np.uint16).reshape(320, -1)[:, :432]
        assert np.array_equal(y, np.asarray(src.get_frame(n)[0]).astype(np.uint16) * 4)
    assert colorize(capsys, film, lossless, model, "--pix-fmt", "nv12", "--overwrite")[0] == EXIT_USAGE


def write_late_ts(path: Path, *, frames: int = 16, fps: int = 25, start: float = 1.4) -> Path:
    """An MPEG-TS file (x264 + MP2) whose video and audio both start at ``start`` seconds, as broadcast TS do."""
    w, h = 64, 48
    with av.open(str(path), "w", format="mpegts") as out:
        v = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = out.add_stream("mp2", rate=48000, layout="mono")
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(
                np.full((h * 3 // 2, w), 16 + 8 * i, np.uint8), format="yuv420p"
            )
            frame.pts = i + round(start * fps)
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        samples = 48000 * frames // fps
        for t in range(0, samples, 1152):
            tone = (8000 * np.sin(2 * np.pi * 440 * (np.arange(1152) + t) / 48000)).astype(np.int16)[None]
            af = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
            af.sample_rate, af.pts = 48000, t + round(start * 48000)
            out.mux(a.encode(af))
        out.mux(a.encode(None))
    return path


def first_times(path: Path) -> tuple[float, float, float]:
    """(first video pts, first audio pts, last audio pts) of ``path`` in seconds."""
    with av.open(str(path)) as c:
        video = min(float(p.pts * p.time_base) for p in c.demux(c.streams.video[0]) if p.size)
    with av.open(str(path)) as c:
        audio = [float(p.pts * p.time_base) for p in c.demux(c.streams.audio[0]) if p.size]
    return video, audio[0], audio[-1]


def test_audio_of_a_late_starting_ts_stays_in_sync(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, model: Path
) -> None:
    src = write_late_ts(tmp_path / "late.ts")
    with av.open(str(src)) as c:
        assert c.streams.video[0].start_time * c.streams.video[0].time_base == pytest.approx(1.4)
    out = tmp_path / "out.mkv"
    code, err = colorize(capsys, src, out, model, "--codec", "ffv1")
    assert code == EXIT_OK, err
    video, audio, last = first_times(out)
    assert abs(audio - video) < 0.03  # not 1.4 s late
    assert 0.55 < last - video < 0.66  # 16 frames at 25 fps = 0.64 s of audio
    chunk = tmp_path / "chunk.mkv"
    assert colorize(capsys, src, chunk, model, "--codec", "ffv1", "--frames", "4:12")[0] == EXIT_OK
    video, audio, last = first_times(chunk)
    assert abs(audio - video) < 0.03 and 0.26 < last - video < 0.34  # 8 frames = 0.32 s, shifted to 0
