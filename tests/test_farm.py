"""``vs-colorize farm plan|chunk|concat`` on a generated clip with known cuts and the shipped demo model."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from onnx_models import tint

from vs_colorize.cli import main
from vs_colorize.farm.chunk import array_index
from vs_colorize.farm.concat import concat
from vs_colorize.farm.plan import PlanError, load_plan

CUTS = (13, 27, 41)
FRAMES = 54
EXIT_REDO = 4


def write_scenes(path: Path, *, cuts: tuple[int, ...] = CUTS, frames: int = FRAMES, fps: int = 24) -> Path:
    """A 64x48 x264 clip of flat-shaded scenes that brighten slowly, hard cuts at ``cuts``, with AAC audio."""
    w, h = 64, 48
    yy, xx = np.mgrid[0:h, 0:w]
    bounds = [0, *cuts, frames]
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "10"})
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = out.add_stream("aac", rate=48000, layout="mono")
        for s in range(len(bounds) - 1):
            base, slope = (40, 190, 70, 210, 50, 160)[s % 6], (s % 3 - 1, 1 - s % 2)
            for i in range(bounds[s], bounds[s + 1]):
                y = np.clip(base + slope[0] * xx + slope[1] * yy + (i - bounds[s]) * 1.5, 0, 255)
                planes = np.concatenate([y.astype(np.uint8), np.full((h // 2, w), 128, np.uint8)])
                frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
                frame.pts = i
                out.mux(v.encode(frame))
        out.mux(v.encode(None))
        for t in range(0, 48000 * frames // fps, 1024):
            tone = np.sin(2 * np.pi * 440 * (np.arange(1024) + t) / 48000).astype(np.float32)[None]
            af = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
            af.sample_rate, af.pts = 48000, t
            out.mux(a.encode(af))
        out.mux(a.encode(None))
    return path


def frame_hashes(path: Path) -> list[str]:
    with av.open(str(path)) as c:
        return [hashlib.sha256(f.to_ndarray().tobytes()).hexdigest() for f in c.decode(video=0)]


def stream_summary(path: Path) -> list[tuple[str, str, int]]:
    """(type, codec, packets) per stream: the audio must be carried whole."""
    with av.open(str(path)) as c:
        counts = {s.index: 0 for s in c.streams}
        for p in c.demux():
            counts[p.stream.index] += bool(p.size)
        return [(s.type, s.codec_context.name, counts[s.index]) for s in c.streams]


def farm(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str]:
    code = main(["farm", *(str(a) for a in args)])
    out, err = capsys.readouterr()
    assert out == "", "farm wrote to stdout"
    return code, err


RENDER = ("--model", "demo", "--render-factor", "4", "--codec", "ffv1")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scenes(tmp_path_factory.mktemp("src") / "scenes.mp4")


def reference(clip: Path, out: Path, *extra: str) -> Path:
    """The one-process render the joined film must equal."""
    assert main(["colorize", str(clip), str(out), *RENDER, "-q", *extra]) == 0
    return out


@pytest.fixture(scope="module")
def done_plan(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plan of 4 chunks, all rendered (in-process), as a template the tests copy."""
    plan_dir = tmp_path_factory.mktemp("plans") / "done"
    assert main(["farm", "plan", str(clip), str(plan_dir), *RENDER, "--chunks", "4", "-q"]) == 0
    for k in range(4):
        assert main(["farm", "chunk", str(plan_dir), str(k), "-q"]) == 0
    return plan_dir


def test_boundaries_fall_on_the_known_cuts(done_plan: Path) -> None:
    plan = load_plan(done_plan)
    assert plan.cuts == CUTS
    assert [c.start for c in plan.chunks] == [0, *CUTS]
    assert [c.stop for c in plan.chunks] == [*CUTS, FRAMES]
    assert all((c.lo, c.hi) == (c.start, c.stop) for c in plan.chunks)  # radius 0: no overlap


def test_array_tasks_in_separate_processes_join_frame_identical_with_audio(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_dir = tmp_path / "plan"
    assert farm(capsys, "plan", clip, plan_dir, *RENDER, "--chunks", "4")[0] == 0
    env = {k: v for k, v in os.environ.items() if not k.endswith(("TASK_ID", "ARRAY_INDEX"))}
    tasks = [("SLURM_ARRAY_TASK_ID", "0"), ("AWS_BATCH_JOB_ARRAY_INDEX", "1"), ("PBS_ARRAY_INDEX", "2")]
    tasks.append(("SGE_TASK_ID", "4"))  # SGE counts from 1
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "vs_colorize", "farm", "chunk", str(plan_dir), "-q"],
            env=env | {name: value},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name, value in tasks
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert (p.returncode, out) == (0, b""), err.decode()
    out = tmp_path / "joined.mkv"
    code, err = farm(capsys, "concat", plan_dir, out)
    assert code == 0, err
    ref = reference(clip, tmp_path / "ref.mkv")
    assert frame_hashes(out) == frame_hashes(ref)
    assert stream_summary(out) == stream_summary(ref)  # ffv1 + the AAC track, every packet once
    assert stream_summary(out)[1][2] == stream_summary(clip)[1][2] > 0
    with av.open(str(out)) as a, av.open(str(ref)) as b:
        va, vb = a.streams.video[0], b.streams.video[0]
        tags = lambda s: (s.codec_context.colorspace, s.codec_context.color_range)  # noqa: E731
        assert tags(va) == tags(vb) == (6, 1)  # BT.601, limited: set on the joined stream
        assert [p.pts for p in a.demux(va) if p.size] == [p.pts for p in b.demux(vb) if p.size]
    assert not [p for p in tmp_path.rglob("*") if ".part" in p.name]


def test_temporal_radius_across_mid_scene_boundaries_joins_frame_identical(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_dir = tmp_path / "plan"
    smooth = ("--temporal-radius", "2")
    assert farm(capsys, "plan", clip, plan_dir, *RENDER, *smooth, "--chunks", "5")[0] == 0
    plan = load_plan(plan_dir)
    inner = [c for c in plan.chunks[1:] if c.start not in CUTS]
    assert inner, "the plan should have a boundary inside a scene"
    assert all(c.lo == c.start - 2 for c in inner)
    for k in range(len(plan.chunks)):
        assert farm(capsys, "chunk", plan_dir, k)[0] == 0
    out = tmp_path / "joined.mkv"
    assert farm(capsys, "concat", plan_dir, out)[0] == 0
    assert frame_hashes(out) == frame_hashes(reference(clip, tmp_path / "ref.mkv", *smooth))


def test_a_done_chunk_is_skipped_and_an_interrupted_one_redone(
    done_plan: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_dir = tmp_path / "plan"
    shutil.copytree(done_plan, plan_dir)
    chunks = plan_dir / "chunks"
    before = (chunks / "chunk_00000.mkv").stat().st_mtime_ns
    code, err = farm(capsys, "chunk", plan_dir, 0)
    assert code == 0 and "already done" in err
    assert (chunks / "chunk_00000.mkv").stat().st_mtime_ns == before
    (chunks / "chunk_00002.json").unlink()  # killed after the video, before its record
    code, err = farm(capsys, "chunk", plan_dir, 2)
    assert code == 0 and "already done" not in err
    assert json.loads((chunks / "chunk_00002.json").read_text())["frames"] == 14


def test_chunks_leave_the_damage_scan_to_the_plan(
    clip: Path,
    done_plan: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The plan reads every packet of the film for damage once; a chunk (one of hundreds) does not again."""
    from vs_colorize.io import integrity

    scanned: list[str] = []
    real = integrity._scan
    monkeypatch.setattr(integrity, "_scan", lambda path: scanned.append(path) or real(path))
    plan_dir = tmp_path / "plan"
    shutil.copytree(done_plan, plan_dir)
    (plan_dir / "chunks" / "chunk_00001.json").unlink()
    code, err = farm(capsys, "chunk", plan_dir, 1)
    assert code == 0 and "already done" not in err
    assert scanned == []
    assert farm(capsys, "plan", clip, tmp_path / "again", *RENDER, "--chunks", "2")[0] == 0
    assert scanned == [os.fspath(clip.resolve())]


def _missing(chunks: Path) -> None:
    (chunks / "chunk_00001.mkv").unlink()


def _truncated(chunks: Path) -> None:
    path = chunks / "chunk_00001.mkv"
    path.write_bytes(path.read_bytes()[:-200])


def _corrupted(chunks: Path) -> None:
    path = chunks / "chunk_00001.mkv"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte of a frame flipped
    path.write_bytes(bytes(data))


def _foreign(clip: Path, tmp_path: Path, *args: str) -> Path:
    """Chunk 1 of another plan of the same clip (other settings or model)."""
    other = tmp_path / "other"
    extra = list(RENDER)
    extra[extra.index(args[0]) + 1] = args[1]
    assert main(["farm", "plan", str(clip), str(other), *extra, "--chunks", "4", "-q"]) == 0
    assert main(["farm", "chunk", str(other), "1", "-q"]) == 0
    return other / "chunks"


@pytest.mark.parametrize("damage", ["missing", "truncated", "corrupted", "foreign settings", "foreign model"])
def test_concat_refuses_a_bad_chunk_and_writes_nothing(
    damage: str, clip: Path, done_plan: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_dir = tmp_path / "plan"
    shutil.copytree(done_plan, plan_dir)
    chunks = plan_dir / "chunks"
    if damage == "missing":
        _missing(chunks)
    elif damage == "truncated":
        _truncated(chunks)
    elif damage == "corrupted":
        _corrupted(chunks)
    else:
        if damage == "foreign settings":
            src = _foreign(clip, tmp_path, "--render-factor", "5")
        else:
            src = _foreign(clip, tmp_path, "--model", str(tint(tmp_path / "tint.onnx")))
        for suffix in (".mkv", ".json"):
            shutil.copy(src / f"chunk_00001{suffix}", chunks / f"chunk_00001{suffix}")
    out = tmp_path / "joined.mkv"
    code, err = farm(capsys, "concat", plan_dir, out)
    assert code == EXIT_REDO, err
    assert "chunks to redo: 1" in err
    expected = {
        "missing": "missing",
        "truncated": "truncated",
        "corrupted": "does not match its record's sha256",
        "foreign settings": "other settings (render_factor)",
        "foreign model": "another model",
    }[damage]
    assert expected in err
    assert not out.exists()
    assert not [p.name for p in tmp_path.iterdir() if ".part" in p.name]


def test_array_index_offsets_and_errors() -> None:
    assert array_index({"SLURM_ARRAY_TASK_ID": "5"}) == 5
    assert array_index({"SLURM_ARRAY_TASK_ID": "105"}, base=100) == 5  # a Slurm array started at 100
    assert array_index({"AWS_BATCH_JOB_ARRAY_INDEX": "0"}) == 0
    assert array_index({"SGE_TASK_ID": "1"}) == 0
    assert array_index({"SGE_TASK_ID": "undefined", "PBS_ARRAY_INDEX": "3"}) == 3
    with pytest.raises(PlanError, match="SLURM_ARRAY_TASK_ID"):
        array_index({})


def test_chunk_outside_the_plan_and_existing_plan_are_usage_errors(
    done_plan: Path, clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = farm(capsys, "chunk", done_plan, 4)
    assert code == 2 and "outside the plan's chunks 0..3" in err
    code, err = farm(capsys, "plan", clip, done_plan, *RENDER)
    assert code == 2 and "plan.json' exists" in err


def test_subtitles_and_audio_of_a_frame_range_are_muxed_once(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], ffmpeg: str
) -> None:
    srt = tmp_path / "subs.srt"
    srt.write_text(
        "1\n00:00:00,100 --> 00:00:00,400\nfirst\n\n2\n00:00:01,000 --> 00:00:01,300\nsecond\n\n"
        "3\n00:00:02,000 --> 00:00:02,200\nthird\n"
    )
    src = tmp_path / "with_subs.mkv"
    cmd = [ffmpeg, "-v", "error", "-i", str(clip), "-i", str(srt), "-map", "0", "-map", "1", "-c", "copy"]
    subprocess.run([*cmd, "-c:s", "srt", str(src)], check=True)
    plan_dir = tmp_path / "plan"
    assert farm(capsys, "plan", src, plan_dir, *RENDER, "--frames", "12:", "--chunks", "2")[0] == 0
    for k in range(2):
        assert farm(capsys, "chunk", plan_dir, k)[0] == 0
    out = tmp_path / "joined.mkv"
    assert farm(capsys, "concat", plan_dir, out)[0] == 0
    with av.open(str(out)) as c:
        kinds = [s.type for s in c.streams]
        subs = [float(p.pts * p.time_base) for p in c.demux(c.streams.subtitles[0]) if p.size]
    assert kinds == ["video", "audio", "subtitle"]
    assert subs == pytest.approx([1.0 - 0.5, 2.0 - 0.5], abs=1e-3)  # frames 12.. start at 0.5 s: shifted
    assert frame_hashes(out) == frame_hashes(reference(src, tmp_path / "ref.mkv", "--frames", "12:"))


def packet_times(path: Path, kind: str) -> list[tuple[float, float]]:
    """(start s, duration s) of the first ``kind`` stream's non-empty packets, in time order."""
    with av.open(str(path)) as c:
        return sorted(
            (float(p.pts * p.time_base), float((p.duration or 0) * p.time_base))
            for p in c.demux(c.streams.get(**{kind: 0})[0])
            if p.size and p.pts is not None
        )


def test_a_frame_range_of_a_broadcast_capture_keeps_its_audio_in_sync(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], ffmpeg: str
) -> None:
    # MPEG-TS as recorded off air: the clock starts at 11.4 s, the audio 21 ms ahead of the first frame
    src = tmp_path / "capture.ts"
    cmd = [ffmpeg, "-v", "error", "-i", str(clip), "-map", "0", "-c", "copy", "-output_ts_offset", "10"]
    subprocess.run([*cmd, str(src)], check=True)
    plan_dir = tmp_path / "plan"
    assert farm(capsys, "plan", src, plan_dir, *RENDER, "--frames", "12:40", "--chunks", "2")[0] == 0
    for k in range(2):
        assert farm(capsys, "chunk", plan_dir, k)[0] == 0
    out = tmp_path / "joined.mkv"
    code, err = farm(capsys, "concat", plan_dir, out)
    assert code == 0, err
    assert re.search(
        rf"farm concat: 28 frames from 2 chunks in [0-9.]+ s \([0-9]+x real time\) -> {re.escape(str(out))}",
        err,
    )

    # the source's audio packets that overlap frames 12-39, timed from frame 12: each once, in step with it
    start = packet_times(src, "video")[12][0]
    end = start + 28 / 24
    want = [t - start for t, d in packet_times(src, "audio") if t + d > start and t < end]
    video, audio = packet_times(out, "video"), packet_times(out, "audio")
    assert len(video) == 28
    # times, not bytes: TS carries a 7-byte ADTS header on each AAC packet that Matroska drops
    assert [t - video[0][0] for t, _ in audio] == pytest.approx(want, abs=1.5e-3)  # mkv: ms
    joined = frame_hashes(out)
    assert joined == frame_hashes(reference(src, tmp_path / "ref.mkv", "--frames", "12:40"))

    # an existing output is kept unless --overwrite, which replaces it whole
    inode = out.stat().st_ino
    code, err = farm(capsys, "concat", plan_dir, out)
    assert code != 0 and "exists; pass --overwrite" in err
    with pytest.raises(FileExistsError, match="exists"):
        concat(plan_dir, load_plan(plan_dir), out)  # the API keeps it too, by default
    assert out.stat().st_ino == inode
    assert farm(capsys, "concat", plan_dir, out, "--overwrite")[0] == 0
    assert out.stat().st_ino != inode and frame_hashes(out) == joined


def test_no_audio_leaves_the_audio_out_of_the_joined_film(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_dir = tmp_path / "plan"
    assert (
        farm(capsys, "plan", clip, plan_dir, *RENDER, "--no-audio", "--frames", ":12", "--chunks", "1")[0]
        == 0
    )
    assert farm(capsys, "chunk", plan_dir, 0)[0] == 0
    out = tmp_path / "joined.mkv"
    assert farm(capsys, "concat", plan_dir, out)[0] == 0
    assert [kind for kind, _, _ in stream_summary(out)] == ["video"]


def test_ray_workers_get_the_longest_chunks_first_and_keep_their_sessions() -> None:
    from vs_colorize.backends import get_backend
    from vs_colorize.core.contract import read_model_info
    from vs_colorize.farm.plan import Chunk
    from vs_colorize.farm.ray_run import keep_sessions, longest_first
    from vs_colorize.models import ASSETS

    chunks = [
        Chunk(0, 0, 10, 0, 10),
        Chunk(1, 10, 40, 10, 40),
        Chunk(2, 40, 50, 40, 50),
        Chunk(3, 50, 70, 50, 70),
    ]
    assert [c.index for c in longest_first(chunks)] == [1, 3, 0, 2]
    model = ASSETS / "demo-fp32.onnx"
    kept = keep_sessions(dataclasses.replace(get_backend("ort", func="test"), num_streams=2))
    shape = (1, 3, 64, 64)
    first = [kept.open(model, read_model_info(model), shape) for _ in range(2)]  # type: ignore[attr-defined]
    again = [kept.open(model, read_model_info(model), shape) for _ in range(2)]  # type: ignore[attr-defined]
    assert first[0] is not first[1]  # one session per stream
    assert again == first  # the next chunk's graph gets the same, already loaded sessions


def test_x264_chunks_with_b_frames_join_into_mp4_with_continuous_timestamps(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan_dir = tmp_path / "plan"
    x264 = ["--model", "demo", "--render-factor", "4", "--codec", "x264", "--crf", "18"]
    assert farm(capsys, "plan", clip, plan_dir, *x264, "--chunks", "3")[0] == 0
    for k in range(3):
        assert farm(capsys, "chunk", plan_dir, k)[0] == 0
    out = tmp_path / "joined.mp4"
    code, err = farm(capsys, "concat", plan_dir, out)
    assert code == 0, err
    ref = tmp_path / "ref.mp4"
    assert main(["colorize", str(clip), str(ref), *x264, "-q"]) == 0

    def packets(path: Path) -> list[tuple[int | None, int | None]]:
        with av.open(str(path)) as c:
            return [(p.pts, p.dts) for p in c.demux(c.streams.video[0]) if p.size]

    got, want = packets(out), packets(ref)
    assert any(p != d for p, d in got), "the chunks should have reordered (B) frames"
    assert sorted(p for p, _ in got) == sorted(p for p, _ in want)  # every frame shown when it is in one file
    dts = [d for _, d in got]
    assert dts == sorted(set(dts)) and all(d <= p for p, d in got)  # decodable order across the boundaries
    assert got[0] == want[0]  # starts like a one-process file (same decoder delay)
    assert len(frame_hashes(out)) == FRAMES
    assert stream_summary(out)[1][2] == stream_summary(clip)[1][2]
