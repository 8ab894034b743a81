"""Films that are not plain: damaged files, MPEG-TS in the PyAV reader, interlaced, alpha and HDR input.

Every input is generated here (PyAV), so a bare clone runs these.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import av
import numpy as np
import pytest
import vapoursynth as vs
from test_encode import write_synthetic

from vs_colorize.cli import EXIT_INPUT, EXIT_OK, main
from vs_colorize.io.pyav_source import pyav_source

core = vs.core


def cli(capsys: pytest.CaptureFixture[str], src: Path, out: Path, *extra: str) -> tuple[int, str]:
    code = main(
        ["colorize", str(src), str(out), "--model", "demo", "--render-factor", "4", "--codec", "ffv1", *extra]
    )
    return code, capsys.readouterr().err


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def x264(path: Path, *, frames: int = 30, params: str = "", fmt: str | None = None) -> Path:
    """A small x264 clip with B-frames whose frames all differ."""
    with av.open(str(path), "w", format=fmt) as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.codec_context.options = {"preset": "medium", **({"x264-params": params} if params else {})}
        ramp = np.add.outer(np.arange(48), np.arange(64)).astype(np.uint8)
        for i in range(frames):
            planes = np.concatenate([ramp + 5 * i, np.full((24, 64), 90 + 3 * i, np.uint8)])
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts = i
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    return path


def test_pyav_reader_reads_mpeg_ts(tmp_path: Path) -> None:
    src = x264(tmp_path / "b.ts", fmt="mpegts")
    with av.open(str(src)) as c:
        assert c.streams.video[0].start_time > 0  # TS starts late (1.4 s), with B-frames
    ref = core.bs.VideoSource(str(src), cachemode=0, showprogress=0)
    clip = pyav_source(src)
    assert clip.num_frames == ref.num_frames == 30
    for n in [0, 1, 29, 3, 0, 17, 16, 2]:  # first frame, random access, backward jumps
        a, b = clip.get_frame(n), ref.get_frame(n)
        assert all(np.array_equal(np.asarray(a[p]), np.asarray(b[p])) for p in range(3)), f"frame {n}"


def damaged(src: Path, kind: str) -> Path:
    data = src.read_bytes()
    out = src.with_name(f"{kind}{src.suffix}")
    mid = len(data) // 2
    if kind == "cut":
        out.write_bytes(data[:mid])
    else:  # a tenth of the file overwritten with garbage in the middle
        rnd = np.random.default_rng(0).integers(0, 256, len(data) // 10, np.uint8).tobytes()
        out.write_bytes(data[:mid] + rnd + data[mid + len(rnd) :])
    return out


@pytest.mark.parametrize(
    ("ext", "kind", "found"),
    [
        pytest.param("mkv", "cut", r"1\.960-4\.000 s missing", id="mkv-cut"),
        pytest.param("mkv", "garbage", r"1\.960-4\.000 s missing", id="mkv-garbage"),
        pytest.param(
            "mp4",
            "garbage",
            r"(do not decode, at 2\.120-2\.520 s|frame 53 .*damaged input)",
            id="mp4-garbage",
        ),
        pytest.param("ts", "garbage", r"2\.040-2\.440 s missing", id="ts-garbage"),
    ],
)
@pytest.mark.parametrize("source", ["auto", "pyav"])
def test_damaged_media_stops_unless_allowed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ext: str, kind: str, found: str, source: str
) -> None:
    bad = damaged(write_synthetic(tmp_path / f"good.{ext}", frames=100), kind)
    out = tmp_path / "out.mkv"
    code, err = cli(capsys, bad, out, "--source", source)
    assert code == EXIT_INPUT, err
    assert re.search(found, err), err
    assert "Traceback" not in err and not out.exists()
    code, err = cli(capsys, bad, out, "--source", source, "--allow-damaged")
    assert code == EXIT_OK, err
    assert "is damaged" in err and "rendering the" in err
    written = frame_count(out)
    assert 40 <= written < 100 and f"rendering the {written} frames" in err


def test_whole_media_is_not_damaged(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for ext in ("mkv", "mp4", "ts"):
        src = write_synthetic(tmp_path / f"good.{ext}", frames=12)
        for source in ("auto", "pyav"):
            code, err = cli(capsys, src, tmp_path / f"out_{ext}_{source}.mkv", "--source", source, "-q")
            assert code == EXIT_OK and err == "", err


@pytest.mark.parametrize(("source", "encoder"), [("auto", "pyav"), ("pyav", "pyav"), ("auto", "ffmpeg")])
def test_interlaced_input_keeps_its_field_order(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    encoder: str,
    request: pytest.FixtureRequest,
) -> None:
    if encoder == "ffmpeg":
        request.getfixturevalue("ffmpeg_on_path")
    src = x264(tmp_path / "bff.mkv", frames=8, params="interlaced=1:bff=1")
    out = tmp_path / "out.mkv"
    code, err = cli(capsys, src, out, "--source", source, "--encoder", encoder)
    assert code == EXIT_OK, err
    assert "is interlaced (bottom field first)" in err and "deinterlace first" in err
    with av.open(str(out)) as c:
        # bottom field first: BB (PyAV encoder), or BT as the ffmpeg command line writes it
        assert c.streams.video[0].codec_context.field_order in (3, 5)


def test_alpha_and_hdr_are_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rgba = tmp_path / "alpha.mkv"
    with av.open(str(rgba), "w") as out:
        s = out.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuva420p"
        for i in range(3):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 4), 40 * i, np.uint8), format="rgba")
            f = f.reformat(format="yuva420p")
            f.pts = i
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    code, err = cli(capsys, rgba, tmp_path / "a.mkv")
    assert code == EXIT_OK and "has an alpha channel; it is dropped" in err, err

    pq = tmp_path / "pq.mkv"
    with av.open(str(pq), "w") as out:
        s = out.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p10le"
        s.codec_context.color_trc, s.codec_context.color_primaries, s.codec_context.colorspace = 16, 9, 9
        for i in range(3):
            f = av.VideoFrame(64, 48, "yuv420p10le")
            for p in f.planes:
                np.frombuffer(p, np.uint16).reshape(p.height, -1)[:] = 300 + i
            f.pts, f.color_trc = i, 16
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    code, err = cli(capsys, pq, tmp_path / "p.mkv")
    assert code == EXIT_OK and "is HDR (PQ" in err and "tone-map" in err, err

    png = tmp_path / "alpha.png"
    av_frame = av.VideoFrame.from_ndarray(np.full((48, 64, 4), 99, np.uint8), format="rgba")
    ctx = av.CodecContext.create("png", "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = 64, 48, "rgba", 1
    av_frame.pts = 0
    png.write_bytes(b"".join(bytes(p) for p in [*ctx.encode(av_frame), *ctx.encode(None)]))
    code, err = cli(capsys, png, tmp_path / "p.png")
    assert code == EXIT_OK and "has an alpha channel; it is dropped" in err, err


def test_sequence_with_a_hole_is_damaged(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import tifffile

    for i in (1, 2, 3, 6):
        tifffile.imwrite(tmp_path / f"s_{i:02d}.tif", np.full((48, 64), 20 * i, np.uint8))
    pattern = tmp_path / "s_%02d.tif"
    code, err = cli(capsys, pattern, tmp_path / "out.mkv")
    assert code == EXIT_INPUT and "misses frame numbers 4-5" in err, err
    code, err = cli(capsys, pattern, tmp_path / "out.mkv", "--allow-damaged")
    assert code == EXIT_OK and "misses frame numbers 4-5" in err, err
    assert frame_count(tmp_path / "out.mkv") == 4
    os.remove(tmp_path / "s_06.tif")
    assert cli(capsys, pattern, tmp_path / "out2.mkv")[0] == EXIT_OK


@pytest.mark.parametrize("ext", ["mp4", "mkv", "ts"])
def test_variable_frame_rate_is_not_damage(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ext: str
) -> None:
    """A long frame is a hole by its timestamps alone: MP4 says the frame lasts, MKV/TS only get a warning."""
    src = tmp_path / f"vfr.{ext}"
    with av.open(str(src), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.codec_context.options = {"preset": "ultrafast"}
        for i, t in enumerate([0, 1, 2, 3, 10, 11, 12, 13]):
            frame = av.VideoFrame.from_ndarray(np.full((72, 64), 16 + 20 * i, np.uint8), format="yuv420p")
            frame.pts = t
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    code, err = cli(capsys, src, tmp_path / "out.mkv", "-q")
    assert code == EXIT_OK, err
    assert frame_count(tmp_path / "out.mkv") == 8
    assert ("timestamps jump at 0.160-0.400 s" in err) == (ext != "mp4"), err
