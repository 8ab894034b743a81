"""``vs-colorize-train`` failures through the real console script: one line on stderr, a documented exit
code, nothing created, nothing unpickled (issue 18.11). All cases start at once to share the start-up time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from crafted import evil_torch_file

from vs_colorize.training.exits import EXIT_INPUT, EXIT_USAGE

SCRIPT = Path(sys.executable).with_name("vs-colorize-train")
CORRUPT = '{"recipe": "tiny", '


def prepare(tmp: Path) -> None:
    """The files the cases use: a file where a folder should be, a crafted pickle, two broken runs."""
    (tmp / "blocker").write_text("a file where a folder should be")
    (tmp / "imgs").mkdir()
    evil_torch_file(tmp / "evil.pt", tmp / "pwned")
    for name, text in (("corrupt", CORRUPT), ("not-a-config", "[1, 2]")):
        (tmp / name).mkdir()
        (tmp / name / "config.json").write_text(text)


def cases(tmp: Path) -> dict[str, tuple[list[str], int, str]]:
    """Case → (arguments, exit code, text its one error line holds)."""
    new_run = ["nogan", "--recipe", "tiny", "--data", str(tmp / "imgs"), "--out"]
    blocked, evil = str(tmp / "blocker" / "run"), str(tmp / "evil.pt")
    corrupt, not_config = str(tmp / "corrupt" / "config.json"), str(tmp / "not-a-config" / "config.json")
    return {
        "out under a file": ([*new_run, blocked], EXIT_USAGE, f"nogan: --out {blocked!r} cannot be written"),
        "corrupt config": (
            ["nogan", "--out", str(tmp / "corrupt"), "--resume"],
            EXIT_INPUT,
            f"nogan: run config {corrupt!r} cannot be read (JSONDecodeError",
        ),
        "config not a mapping": (
            ["gan", "--out", str(tmp / "not-a-config")],
            EXIT_INPUT,
            f"gan: run config {not_config!r} cannot be read",
        ),
        "unsafe vgg weights": (
            [*new_run, str(tmp / "run1"), "--vgg-weights", evil],
            EXIT_USAGE,
            f"nogan: --vgg-weights {evil!r} holds the global _io.open, not only tensors",
        ),
        "sr out under a file": (
            ["sr", "train", str(tmp / "imgs"), "--out", blocked],
            EXIT_USAGE,
            f"sr train: --out {blocked!r} cannot be written",
        ),
        "sr unsafe feature loss": (
            ["sr", "train", str(tmp / "imgs"), "--out", str(tmp / "run3"), "--feature-loss", evil],
            EXIT_USAGE,
            f"sr train: --feature-loss {evil!r} holds the global _io.open",
        ),
    }


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[int, str]]]:
    tmp = tmp_path_factory.mktemp("train-cli")
    prepare(tmp)
    procs = {
        case: subprocess.Popen(
            [str(SCRIPT), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp
        )
        for case, (args, _, _) in cases(tmp).items()
    }
    got: dict[str, tuple[int, str]] = {}
    for case, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert stdout == "", f"{case}: the command wrote to stdout"
        got[case] = (proc.returncode, stderr)
    return tmp, got


@pytest.mark.parametrize("case", list(cases(Path("/tmp"))))
def test_one_clear_line_and_exit_code(results: tuple[Path, dict[str, tuple[int, str]]], case: str) -> None:
    tmp, got = results
    code, stderr = got[case]
    _, want_code, want_text = cases(tmp)[case]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr and len(lines) == 1, stderr
    assert want_text in lines[0], stderr
    assert "weights_only=False" not in stderr
    assert code == want_code, stderr


def test_nothing_unpickled_or_created(results: tuple[Path, dict[str, tuple[int, str]]]) -> None:
    tmp, _ = results
    assert not (tmp / "pwned").exists(), "a weights file ran code"
    for run in ("run1", "run3"):
        assert not (tmp / run).exists(), f"{run} was created although the command was refused"
    assert (tmp / "corrupt" / "config.json").read_text() == CORRUPT  # left as it was
