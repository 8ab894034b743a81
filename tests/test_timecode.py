"""Timecode, reel and frame rate carried (issue 20): SMPTE arithmetic, DPX headers FFmpeg reads back, and
the round trip DPX sequence → MOV/MKV → DPX that an NLE would see (same timecode, rate, frame count)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import pytest
from test_scan_sequences import write_sequence

from vs_colorize.cli import EXIT_INPUT, EXIT_OK, main
from vs_colorize.io.dpx import read_header, with_header
from vs_colorize.io.timecode import from_frames, offset, to_frames

NTSC, FILM = Fraction(30000, 1001), Fraction(24000, 1001)


@pytest.mark.parametrize(
    ("tc", "rate", "frames"),
    [
        ("00:00:59;29", NTSC, 1799),
        ("00:01:00;02", NTSC, 1800),  # 00 and 01 are skipped at minute 1
        ("00:10:00;00", NTSC, 17982),  # ... but not at minute 10
        ("01:00:00;00", NTSC, 107892),
        ("01:00:00:00", FILM, 86400),  # 23.976 counts every frame
        ("10:00:00:12", Fraction(25), 900012),
    ],
)
def test_timecode_counts_like_smpte(tc: str, rate: Fraction, frames: int) -> None:
    assert to_frames(tc, rate)[0] == frames
    assert from_frames(frames, rate, drop=";" in tc) == tc


def test_timecode_steps_across_hours_and_refuses_nonsense() -> None:
    assert offset("00:59:59:23", 1, FILM) == "01:00:00:00"
    assert offset("00:00:00:00", -1, Fraction(25)) == "23:59:59:24"
    with pytest.raises(ValueError, match="out of range"):
        to_frames("00:00:00:24", FILM)


def dpx_scan(folder: Path, first: int, tc: str, reel_rate: Fraction = FILM) -> None:
    """A 10-bit DPX sequence whose headers hold a running timecode and a frame rate."""
    write_sequence(folder, "dpx", "10", 1023, range(first, first + 4))
    for i, path in enumerate(sorted(folder.iterdir())):
        data = with_header(path.read_bytes(), timecode=offset(tc, i, reel_rate), rate=reel_rate, transfer=6)
        path.write_bytes(data)


def test_dpx_header_is_read_back_by_ffmpeg(tmp_path: Path) -> None:
    dpx_scan(tmp_path, 7, "10:00:00:20")
    first = tmp_path / "scan_000007.dpx"
    head = read_header(first)
    assert (head.timecode, head.frame_rate, head.transfer, head.bits) == ("10:00:00:20", FILM, 6, 10)
    with av.open(str(first)) as c:
        assert next(c.decode(video=0)).metadata["timecode"] == "10:00:00:20"


def nle_view(path: Path) -> tuple[str | None, Fraction, int]:
    """What an NLE reads from a film: the timecode of the tmcd track or stream tag, rate, frame count."""
    with av.open(str(path)) as c:
        tcs = [v for s in c.streams for k, v in s.metadata.items() if k.lower() == "timecode"]
        video = c.streams.video[0]
        count = sum(1 for _ in c.decode(video))
        return (tcs[0] if tcs else None), Fraction(video.average_rate), count


@pytest.mark.parametrize("ext", [".mov", ".mkv"])
def test_timecode_round_trip_through_an_intermediate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ext: str
) -> None:
    dpx_scan(tmp_path / "scan", 1001, "01:00:00:23")
    film = tmp_path / f"graded{ext}"
    codec = "prores4444" if ext == ".mov" else "ffv1"
    argv = ["colorize", str(tmp_path / "scan"), str(film), "--model", "demo", "--codec", codec, "-q"]
    assert main(argv) == EXIT_OK
    assert nle_view(film) == ("01:00:00:23", FILM, 4)
    assert main(["probe", str(film), "--json"]) == EXIT_OK
    seen = json.loads(capsys.readouterr().out)
    assert (seen["timecode"], seen["frames"], seen["frame_rate"]) == ("01:00:00:23", 4, "24000/1001")
    back = tmp_path / "back_%04d.dpx"  # a farm chunk: frames 1..2 keep their own timecodes
    assert main(["colorize", str(film), str(back), "--model", "demo", "--frames", "1:3", "-q"]) == EXIT_OK
    heads = [read_header(tmp_path / f"back_{n:04d}.dpx") for n in (1, 2)]
    assert [h.timecode for h in heads] == ["01:00:01:00", "01:00:01:01"]
    assert {h.frame_rate for h in heads} == {FILM}


def test_dpx_sequence_keeps_its_headers(tmp_path: Path) -> None:
    dpx_scan(tmp_path / "scan", 86399, "23:59:59:22")
    out = tmp_path / "c_%06d.dpx"
    assert main(["colorize", str(tmp_path / "scan"), str(out), "--model", "demo", "-q"]) == EXIT_OK
    heads = {n: read_header(tmp_path / f"c_{n:06d}.dpx") for n in range(86399, 86403)}
    assert [h.timecode for h in heads.values()] == [
        "23:59:59:22",
        "23:59:59:23",
        "00:00:00:00",
        "00:00:00:01",
    ]
    assert {(h.frame_rate, h.transfer, h.bits) for h in heads.values()} == {(FILM, 6, 10)}


def test_probe_reports_a_sequence_and_a_film(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    dpx_scan(tmp_path / "scan", 1001, "01:00:00:23")
    (tmp_path / "scan" / "scan_001003.dpx").unlink()
    assert main(["probe", str(tmp_path / "scan" / "scan_%06d.dpx"), "--json"]) == EXIT_OK
    seq = json.loads(capsys.readouterr().out)
    assert (seq["kind"], seq["first_frame"], seq["last_frame"], seq["missing_frames"]) == (
        "sequence",
        1001,
        1004,
        [1003],
    )
    assert (seq["timecode"], seq["last_timecode"], seq["frame_rate"]) == (
        "01:00:00:23",
        "01:00:01:02",
        "24000/1001",
    )
    assert (seq["pix_fmt"], seq["bits"], seq["dpx_transfer"]) == ("gbrp10le", 10, "BT.709")
    film = tc_film(tmp_path / "f.mov")
    assert main(["probe", str(film)]) == EXIT_OK
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert (lines["kind"], lines["timecode"], lines["reel"], lines["frames"]) == (
        "film",
        "09:59:50:00",
        "A042",
        "5",
    )
    assert lines["frame_rate"] == "25/1" and lines["bits"] == "10"
    assert main(["probe", str(tmp_path / "missing.mov")]) == EXIT_INPUT


def tc_film(path: Path) -> Path:
    """A 5-frame ProRes MOV with a tmcd track (timecode 09:59:50:00, reel A042) at 25 fps."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("prores_ks", rate=Fraction(25))
        s.width, s.height, s.pix_fmt = 64, 48, "yuv422p10le"
        s.metadata["timecode"], s.metadata["reel_name"] = "09:59:50:00", "A042"
        for i in range(5):
            f = av.VideoFrame(64, 48, "yuv422p10le")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return path


@pytest.mark.parametrize("encoder", ["pyav", "ffmpeg"])
def test_film_timecode_and_reel_reach_the_output(
    tmp_path: Path, encoder: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    if encoder == "ffmpeg":
        request.getfixturevalue("ffmpeg_on_path")
    src = tc_film(tmp_path / "in.mov")
    out = tmp_path / "out.mov"
    argv = ["colorize", str(src), str(out), "--model", "demo", "--frames", "2:5", "--encoder", encoder, "-q"]
    assert main([*argv, "--codec", "prores422"]) == EXIT_OK
    with av.open(str(out)) as c:
        tags = {k.lower(): v for st in c.streams for k, v in st.metadata.items()}
    assert (tags["timecode"], tags["reel_name"]) == ("09:59:50:02", "A042")  # the chunk's own first frame
    assert nle_view(out)[1:] == (Fraction(25), 3)
