"""The CLI without training: show-config, argument errors, phase ordering; the run log's crash repair."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vs_colorize.training.cli import main
from vs_colorize.training.phases import plan
from vs_colorize.training.phases.context import RunLog
from vs_colorize.training.recipes import get_recipe


@pytest.fixture
def images(tmp_path: Path, data_dir: Path) -> Path:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in sorted((data_dir / "train256").glob("*.jpg"))[:8]:
        shutil.copy(p, folder / p.name)
    return folder


def test_show_config_prints_the_resolved_config(capsys: pytest.CaptureFixture[str], images: Path) -> None:
    args = [
        "show-config",
        "--recipe",
        "video",
        "--data",
        str(images),
        "--set",
        "gan.lr=1e-6",
        "--vgg-weights",
        "random",
    ]
    assert main(args) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["recipe"] == "video" and cfg["gan"]["lr"] == 1e-6 and cfg["loss"]["vgg_weights"] == "random"
    assert cfg["data"]["dirs"] == [str(images.resolve())] and cfg["data"]["crappify"]["noise"] == "noisify"


def test_bad_override_is_reported_not_raised(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert main(["show-config", "--recipe", "tiny", "--set", "gan.bogus=1"]) == 2
    assert "unknown key 'gan.bogus'" in caplog.text
    assert capsys.readouterr().out == ""


def test_phase_needs_its_predecessors(images: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "run"
    assert main(["save-fakes", "--recipe", "tiny", "--data", str(images), "--out", str(out)]) == 2
    assert "phase fakes.0 needs ['gen.0', 'gen.1'] finished first" in caplog.text
    assert json.loads((out / "config.json").read_text())["recipe"] == "tiny"  # the run directory was set up


def test_missing_data_is_an_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert main(["nogan", "--recipe", "tiny", "--out", str(tmp_path / "run")]) == 2
    assert "pass --data DIR" in caplog.text


def test_plan_orders_stages_then_cycles() -> None:
    assert plan(get_recipe("tiny")) == [
        "gen.0",
        "gen.1",
        "fakes.0",
        "critic.0",
        "gan.0",
        "fakes.1",
        "critic.1",
        "gan.1",
    ]
    assert plan(get_recipe("stable"))[:4] == ["gen.0", "gen.1", "gen.2", "gen.3"]
    assert len(plan(get_recipe("artistic"))) == 4 + 3 * 6


def test_run_log_drops_a_partial_last_line(tmp_path: Path) -> None:
    (tmp_path / "losses.jsonl").write_text('{"phase": "gen.0", "step": 1}\n{"phase": "gen.0", "st')
    logs = RunLog(tmp_path, main=True, log_every=1)
    logs.step("gen.0", 2, {"loss": 1.5})
    logs.close()
    lines = [json.loads(line) for line in (tmp_path / "losses.jsonl").read_text().splitlines()]
    assert lines == [{"phase": "gen.0", "step": 1}, {"phase": "gen.0", "step": 2, "loss": 1.5}]
