"""The ``vs-colorize`` command line end to end, on the real film and a tiny test model."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
import vapoursynth as vs
from onnx_models import nan, tint
from test_encode import audio_packets, decode_all, write_synthetic

from vs_colorize.cli import EXIT_FAILED, EXIT_INPUT, EXIT_OK, EXIT_USAGE, main, parse_frames
from vs_colorize.core import cache

ROOT = Path(__file__).resolve().parents[1]
core = vs.core


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tint(tmp_path_factory.mktemp("models") / "tint.onnx")


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str]:
    """Run the CLI in-process; assert stdout stayed empty; return (exit code, stderr)."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert out == "", "the CLI wrote to stdout"
    return code, err


def colorize(
    capsys: pytest.CaptureFixture[str], src: Path, out: Path, model: Path, *extra: object
) -> tuple[int, str]:
    return run(capsys, "colorize", src, out, "--model", model, "--render-factor", 4, *extra)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def test_film_to_lossless_ffv1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, film: Path, model: Path
) -> None:
    out = tmp_path / "out.mkv"
    code, err = colorize(capsys, film, out, model, "--codec", "ffv1", "--frames", "0:8")
    assert code == EXIT_OK, err
    assert "8 frames in" in err  # the summary line, on stderr
    info, frames = decode_all(out)
    assert (len(frames), info["rate"], info["codec"]) == (8, 29, "ffv1")
    assert info["tags"] == (
        6,
        2,
        2,
        1,
    )  # BT.601 (432x320), primaries/transfer unknown as in the source, tv range
    with av.open(str(out)) as c:
        assert c.duration / 1e6 == pytest.approx(8 / 29, abs=1e-3)
    src = core.bs.VideoSource(str(film), cachemode=0, showprogress=0)
    for n, frame in enumerate(frames):
        y = np.frombuffer(frame.planes[0], np.uint8).reshape(320, -1)[:, :432]
        assert np.array_equal(y, np.asarray(src.get_frame(n)[0])), f"luma of frame {n} changed"
    u, v = (frames[3].to_ndarray()[320 + 80 * k : 400 + 80 * k].astype(float).mean() for k in (0, 1))
    assert u < 126 and v > 130  # the tint model (R up, B down) really coloured it
    assert leftovers(tmp_path) == []
    assert (out.stat().st_mode & 0o077) != 0  # not the 0600 of a temporary file


def test_audio_track_is_kept(capsys: pytest.CaptureFixture[str], tmp_path: Path, model: Path) -> None:
    src = write_synthetic(tmp_path / "with_audio.mp4", frames=16)
    out = tmp_path / "out.mp4"
    code, err = colorize(capsys, src, out, model, "--preset", "ultrafast")
    assert code == EXIT_OK, err
    info, frames = decode_all(out)
    assert (len(frames), info["rate"], info["codec"]) == (16, 25, "h264")
    assert audio_packets(out) == audio_packets(src) > 0
    silent = tmp_path / "silent.mkv"
    assert colorize(capsys, src, silent, model, "--codec", "ffv1", "--no-audio")[0] == EXIT_OK
    assert audio_packets(silent) == 0
    chunk = tmp_path / "chunk.mkv"  # a chunk carries the audio of its own time range only
    assert colorize(capsys, src, chunk, model, "--codec", "ffv1", "--frames", "4:12")[0] == EXIT_OK
    with av.open(str(chunk)) as c:
        times = [float(p.pts * p.time_base) for p in c.demux(c.streams.audio[0]) if p.size]
    assert times[0] < 0.03 and 0.28 < times[-1] < 0.34  # 8 frames at 25 fps = 0.32 s, shifted to 0


def test_existing_output_is_refused_untouched(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, film: Path, model: Path
) -> None:
    out = tmp_path / "out.mkv"
    out.write_bytes(b"precious")
    code, err = colorize(capsys, film, out, model, "--frames", "0:2")
    assert code == EXIT_USAGE and "exists" in err and "--overwrite" in err
    assert out.read_bytes() == b"precious"
    assert colorize(capsys, film, out, model, "--frames", "0:2", "--skip-existing")[0] == EXIT_OK
    assert out.read_bytes() == b"precious"
    assert (
        colorize(capsys, film, out, model, "--frames", "0:2", "--codec", "ffv1", "--overwrite")[0] == EXIT_OK
    )
    assert len(decode_all(out)[1]) == 2
    assert leftovers(tmp_path) == []


def join_by_stream_copy(chunks: list[Path], out: Path) -> None:
    """What ``ffmpeg -f concat -i list.txt -c copy`` does, with PyAV: packets copied, timestamps shifted."""
    with av.open(str(out), "w") as dst:
        stream = None
        offset = 0
        for chunk in chunks:
            with av.open(str(chunk)) as src:
                vin = src.streams.video[0]
                stream = stream or dst.add_stream_from_template(vin)
                last = 0
                for pkt in src.demux(vin):
                    if pkt.dts is None:
                        continue
                    last = max(last, pkt.pts + (pkt.duration or 0))
                    pkt.pts += offset
                    pkt.dts += offset
                    pkt.stream = stream
                    dst.mux(pkt)
                offset += last


def test_frame_chunks_join_to_the_full_render(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, film: Path, model: Path, ffmpeg: str
) -> None:
    full, a, b = tmp_path / "full.mkv", tmp_path / "a.mkv", tmp_path / "b.mkv"
    for out, frames in ((full, "0:8"), (a, "0:5"), (b, "5:8")):
        assert colorize(capsys, film, out, model, "--codec", "ffv1", "--frames", frames)[0] == EXIT_OK
    joined = tmp_path / "joined.mkv"
    join_by_stream_copy([a, b], joined)
    want = [f.to_ndarray() for f in decode_all(full)[1]]
    got = [f.to_ndarray() for f in decode_all(joined)[1]]
    assert len(got) == len(want) == 8
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
    # the recipe docs/cli.md gives
    listing = tmp_path / "list.txt"
    listing.write_text("file 'a.mkv'\nfile 'b.mkv'\n")
    concat = tmp_path / "concat.mkv"
    cmd = [ffmpeg, "-v", "error", "-f", "concat", "-safe", "0", "-i", listing, "-c", "copy", concat]
    subprocess.run(cmd, check=True, cwd=tmp_path)
    got = [f.to_ndarray() for f in decode_all(concat)[1]]
    assert len(got) == 8 and all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))


def test_parse_frames_uses_slice_semantics() -> None:
    assert parse_frames("0:8", 360) == (0, 8)
    assert parse_frames("350:", 360) == (350, 360)
    assert parse_frames(":-10", 360) == (0, 350)
    assert parse_frames("300:1000", 360) == (300, 360)  # the last chunk of a farm may overshoot
    for bad in ("5", "a:b", "0:8:2", "400:500", "8:8"):
        with pytest.raises(ValueError, match="--frames"):
            parse_frames(bad, 360)


@pytest.mark.parametrize(
    ("case", "code", "message"),
    [
        ("missing input", EXIT_INPUT, "does not exist"),
        ("junk input", EXIT_INPUT, "cannot read"),
        ("no video", EXIT_INPUT, "no video stream"),
        ("bad frames", EXIT_USAGE, "selects no frames"),
        ("bad codec", EXIT_USAGE, "not an encoder"),
        ("bad extension", EXIT_USAGE, "extension '.avi'"),
        ("missing output dir", EXIT_USAGE, "does not exist"),
        ("missing model", EXIT_USAGE, "neither a file nor a registry name"),
        ("bad render factor", EXIT_USAGE, "render_factor must be"),
        ("bad crf", EXIT_USAGE, "crf must be in"),
        ("output is input", EXIT_USAGE, "is the input file"),
    ],
)
def test_clear_errors_and_exit_codes(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    film: Path,
    model: Path,
    case: str,
    code: int,
    message: str,
) -> None:
    src, out, extra = film, tmp_path / "out.mkv", ["--frames", "0:2"]
    if case == "missing input":
        src = tmp_path / "nope.mp4"
    elif case == "junk input":
        src = tmp_path / "junk.mp4"
        src.write_bytes(b"\x00garbage" * 64)
    elif case == "no video":
        src = tmp_path / "tone.wav"
        with av.open(str(src), "w") as wav:
            s = wav.add_stream("pcm_s16le", rate=8000, layout="mono")
            f = av.AudioFrame.from_ndarray(np.zeros((1, 400), np.int16), format="s16", layout="mono")
            f.sample_rate = 8000
            wav.mux(s.encode(f))
    elif case == "bad frames":
        extra = ["--frames", "400:500"]
    elif case == "bad codec":
        extra += ["--codec", "nosuchcodec"]
    elif case == "bad extension":
        out = tmp_path / "out.avi"
    elif case == "missing output dir":
        out = tmp_path / "no" / "such" / "dir" / "out.mkv"
    elif case == "missing model":
        model = tmp_path / "nomodel.onnx"
    elif case == "bad render factor":
        extra += ["--render-factor", "3"]
    elif case == "bad crf":
        extra += ["--crf", "99"]
    elif case == "output is input":
        src = out
        shutil.copy(film, src)
    before = out.read_bytes() if out.exists() else None
    got, err = colorize(capsys, src, out, model, *extra)
    assert got == code, err
    assert message in err
    assert (out.read_bytes() if out.exists() else None) == before and leftovers(tmp_path) == []


def test_models_lists_registry_and_default(capsys: pytest.CaptureFixture[str], model: Path) -> None:
    target = cache.registry_model_path("video")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(model, target)
    assert main(["models"]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"* video     {target}  (colorize tiny fp32, sides 16..2048, multiple of 16)" in out
    assert "  stable    not installed" in out
    assert "default (model=None): video" in out


def test_render_failure_is_exit_1(capsys: pytest.CaptureFixture[str], tmp_path: Path, film: Path) -> None:
    out = tmp_path / "out.mkv"
    code, err = colorize(capsys, film, out, nan(tmp_path / "nan.onnx"), "--frames", "0:2")
    assert code == EXIT_FAILED, err
    assert "render of" in err
    assert not out.exists() and leftovers(tmp_path) == []
