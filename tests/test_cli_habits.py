"""ffmpeg/av1an habits of the command line: ``-`` streams to stdout, ``--progress json``, examples in every
``--help``, shell completion, ``-y``. Through the real ``vs-colorize`` process where stdout matters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from vs_colorize.cli import main
from vs_colorize.core.cli_flags import examples

CLI = [sys.executable, "-m", "vs_colorize"]


def _film(path: Path, frames: int = 4) -> Path:
    with av.open(str(path), "w") as out:
        s = out.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            f = av.VideoFrame(64, 48, "yuv420p")
            for k, plane in enumerate(f.planes):
                plane.update(bytes([40 + 30 * i if k == 0 else 128]) * plane.buffer_size)
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    return path


def _luma(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="yuv420p")[:48] for f in c.decode(video=0)]


def test_dash_streams_y4m_and_nothing_else_to_stdout(tmp_path: Path) -> None:
    src = _film(tmp_path / "in.mkv")
    run = subprocess.run(
        [*CLI, "colorize", str(src), "-", "--model", "demo", "--render-factor", "4"],
        capture_output=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr.decode()
    header, _, body = run.stdout.partition(b"\n")
    assert header.startswith(b"YUV4MPEG2 ") and b" W64 H48 " in header and b" C420" in header
    assert body.count(b"FRAME\n") == 4
    (tmp_path / "out.y4m").write_bytes(run.stdout)
    for got, want in zip(_luma(tmp_path / "out.y4m"), _luma(src), strict=True):
        np.testing.assert_array_equal(got, want)  # the source luma, bit for bit, through the pipe
    assert b"colorize" in run.stderr  # the log went to stderr


def test_dash_with_a_container_and_the_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _film(tmp_path / "in.mkv")
    run = subprocess.run(
        [*CLI, "colorize", str(src), "-", "--format", "matroska", "--codec", "ffv1", "--model", "demo", "-q"],
        capture_output=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr.decode()
    (tmp_path / "out.mkv").write_bytes(run.stdout)
    assert len(_luma(tmp_path / "out.mkv")) == 4
    assert main(["colorize", str(src), "-", "-y", "--model", "demo"]) == 2
    assert "standard output" in capsys.readouterr().err
    assert main(["colorize", str(src), str(tmp_path / "o.mkv"), "--format", "nut"]) == 2
    assert "--format is for output '-'" in capsys.readouterr().err


def test_progress_json_lines_on_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _film(tmp_path / "in.mkv", frames=3)
    run = subprocess.run(
        [*CLI, "colorize", str(src), str(tmp_path / "o.mkv"), "--model", "demo", "--progress", "json", "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    records = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    assert records and records[-1]["event"] == "done"
    assert records[-1]["done"] == records[-1]["total"] == 3
    assert {"fps", "eta_s", "elapsed_s", "label"} <= set(records[-1])


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["colorize", "--help"],
        ["superres", "--help"],
        ["models", "--help"],
        ["sheet", "--help"],
        ["vpy", "--help"],
        ["probe", "--help"],
        ["farm", "--help"],
    ],
)
def test_every_help_ends_with_examples(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    help_text = capsys.readouterr().out
    tail = help_text[help_text.rindex("examples:") :].splitlines()[1:]
    assert len(tail) >= 2 and all(line.startswith("  ") and line.strip() for line in tail)
    assert any(
        line.strip().startswith(f"vs-colorize {argv[0]}" if argv[0] != "--help" else "vs-colorize")
        for line in tail
    )


def test_completion_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--print-completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert "complete" in script and "colorize" in script and "--render-factor" in script
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("vs-colorize ")


def test_examples_keywords() -> None:
    kw = examples("a b", "c d")
    assert kw["epilog"] == "examples:\n  a b\n  c d"


def test_vpy_template_from_the_package(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vs_colorize.cli.vpy import TEMPLATE

    assert main(["vpy"]) == 0
    printed = capsys.readouterr().out
    assert printed == TEMPLATE.read_text() and "script_args(" in printed
    out = tmp_path / "colorize.vpy"
    assert main(["vpy", str(out)]) == 0 and out.read_text() == printed
    assert main(["vpy", str(out)]) == 2  # exists
    assert "pass -y/--overwrite" in capsys.readouterr().err
    assert main(["vpy", str(out), "-y"]) == 0
