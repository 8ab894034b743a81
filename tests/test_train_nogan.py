"""The tiny recipe end to end through the CLI, and --resume after SIGKILL matching an uninterrupted run.

Every run is a subprocess with one CPU thread, so the uninterrupted and the resumed runs compute identically.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from vs_colorize.training.archs import preset
from vs_colorize.training.checkpoint import load_critic, load_generator
from vs_colorize.training.config import apply_overrides, load_config
from vs_colorize.training.phases import plan
from vs_colorize.training.recipes import get_recipe

ROOT = Path(__file__).resolve().parents[1]
N_IMAGES = 16


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "training", *args]


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.pop("WORLD_SIZE", None)
    return env


def _steps(run: Path) -> dict[tuple[str, int], dict[str, float]]:
    """Per (phase, step) the values of the last record written for it (a resumed run rewrites some)."""
    out: dict[tuple[str, int], dict[str, float]] = {}
    for line in (run / "losses.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "step" in rec and "phase" in rec and "event" not in rec:
            out[(rec.pop("phase"), rec.pop("step"))] = rec
    return out


def _events(run: Path, kind: str) -> list[dict[str, object]]:
    recs = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    return [r for r in recs if r.get("event") == kind]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("train16")
    for p in sorted((data_dir / "train256").glob("*.jpg"))[:N_IMAGES]:
        shutil.copy(p, folder / p.name)
    return folder


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory, images: Path) -> Path:
    run = tmp_path_factory.mktemp("runs") / "full"
    args = ("nogan", "--recipe", "tiny", "--data", str(images), "--out", str(run))
    proc = subprocess.run(_cmd(*args), env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout == ""  # the library and CLI keep stdout clean
    return run


def test_all_phases_write_their_outputs(full_run: Path, images: Path) -> None:
    cfg = load_config(full_run / "config.json")
    assert cfg == apply_overrides(get_recipe("tiny"), ["data.dirs=" + json.dumps([str(images.resolve())])])
    assert json.loads((full_run / "progress.json").read_text())["done"] == plan(cfg)
    assert not any((full_run / "resume").glob("*.pt"))  # finished phases drop their resume checkpoints

    gen = load_generator(full_run / "gen_pretrain" / "generator.pt")
    assert gen.config == preset("tiny")
    with torch.no_grad():
        out = gen(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, 3, 64, 64) and out.abs().max() < 3

    train = json.loads((full_run / "scan.json").read_text())["train"]
    for c in range(cfg.cycles):
        cyc = full_run / f"cycle{c}"
        fakes = sorted((cyc / "fakes").glob("*.png"))
        assert len(fakes) == 8
        with Image.open(fakes[0]) as im:
            assert im.mode == "RGB" and im.size == (64, 64)
        index = json.loads((cyc / "fakes.json").read_text())
        n_train = len(json.loads((full_run / "scan.json").read_text())["train"])
        assert sorted(index["fakes"]) == [str(p) for p in fakes]
        assert len(index["reals"]) == min(8, n_train - 8) and all(r in train for r in index["reals"])
        assert load_critic(cyc / "critic.pt").config.nf == 16
        ckpts = sorted((cyc / "gan").glob("gen_*.pt"))
        assert [p.name for p in ckpts] == ["gen_0000002.pt", "gen_0000004.pt"]
        raw = torch.load(ckpts[0], map_location="cpu", weights_only=True)
        assert raw["step"] == 2 and raw["images_seen"] == 8 and raw["phase"] == f"gan.{c}"
        load_generator(ckpts[-1])
        load_generator(cyc / "generator.pt")
        load_critic(cyc / "critic_gan.pt")

    before = load_generator(full_run / "gen_pretrain" / "generator.pt").state_dict()
    after = load_generator(full_run / "cycle0" / "generator.pt").state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the GAN phase trained the generator


def test_losses_and_tensorboard(full_run: Path) -> None:
    steps = _steps(full_run)
    gan = [steps[("gan.0", s)] for s in range(1, 5)]
    assert [r["gen_mode"] for r in gan] == [0.0, 1.0, 0.0, 1.0]  # tiny's threshold 0.7 alternates C and G
    assert {"feature", "adversarial", "gen_loss"} <= set(gan[1]) and "critic_loss" in gan[0]
    assert {"pixel", "feat_22", "feat_32", "feat_42", "loss", "lr"} <= set(steps[("gen.0", 1)])
    assert "accuracy" in steps[("critic.0", 1)]

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = list((full_run / "tb").glob("events.out.tfevents.*"))
    assert events
    acc = EventAccumulator(str(full_run / "tb"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    assert {"gen.0/loss", "critic.0/loss", "gan.0/critic_loss", "gan.1/gen_loss"} <= set(
        acc.Tags()["scalars"]
    )
    assert "gen.1/input_output_target" in acc.Tags()["images"]


def _run_until(args: tuple[str, ...], marker: Path, timeout: float = 600) -> None:
    """Start a training subprocess and SIGKILL it as soon as ``marker`` exists."""
    proc = subprocess.Popen(_cmd(*args), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(
                f"process ended before {marker.name} appeared: {proc.stderr.read()[-3000:]!r}"
            )
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{marker} did not appear")
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    proc.stderr.close()


def test_resume_after_sigkill_matches_uninterrupted_run(full_run: Path, images: Path, tmp_path: Path) -> None:
    run = tmp_path / "killed"
    # killed right after the first checkpoint of generator pretraining …
    _run_until(
        ("nogan", "--recipe", "tiny", "--data", str(images), "--out", str(run)), run / "resume" / "gen.0.pt"
    )
    # … resumed, and killed again right after the first GAN-phase checkpoint …
    _run_until(("nogan", "--out", str(run), "--resume"), run / "resume" / "gan.0.pt")
    # … and resumed to the end.
    proc = subprocess.run(
        _cmd("nogan", "--out", str(run), "--resume"), env=_env(), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-4000:]

    resumed = {e["phase"]: e["step"] for e in _events(run, "resume")}
    assert resumed.get("gen.0", 0) >= 1 and resumed.get("gan.0", 0) >= 2

    expected, got = _steps(full_run), _steps(run)
    assert set(got) == set(expected)
    for key in expected:
        assert got[key] == expected[key], key  # bit-identical losses, steps after each resume included

    a = load_generator(full_run / "cycle1" / "generator.pt").state_dict()
    b = load_generator(run / "cycle1" / "generator.pt").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cli_refuses_to_overwrite_or_resume_nothing(full_run: Path, tmp_path: Path) -> None:
    from vs_colorize.training.cli import main

    assert main(["nogan", "--out", str(full_run)]) == 2  # a run is there: needs --resume
    assert main(["nogan", "--out", str(tmp_path / "empty"), "--resume"]) == 2
    assert main(["gan", "--out", str(full_run), "--set", "gan.lr=1"]) == 2  # config of a run is fixed
    # every phase is done: a phase subcommand on the finished run has nothing left to do
    assert main(["gan", "--out", str(full_run)]) == 0


def test_pick_runs_the_inflection_picker_after_the_gan_phase(
    full_run: Path, tmp_path: Path, data_dir: Path
) -> None:
    from vs_colorize.training.cli import main

    holdout = tmp_path / "holdout"
    holdout.mkdir()
    for p in sorted((data_dir / "bsds500_test_sample50").glob("*.jpg"))[:4]:
        shutil.copy(p, holdout / p.name)
    run = tmp_path / "run"
    shutil.copytree(full_run, run)
    progress = run / "progress.json"
    done = json.loads(progress.read_text())["done"]
    progress.write_text(json.dumps({"done": [p for p in done if p != "gan.1"]}))
    shutil.rmtree(run / "cycle1" / "gan")

    assert main(["gan", "--out", str(run), "--cycle", "1", "--pick", str(holdout)]) == 0
    report = json.loads((run / "cycle1" / "pick" / "inflection.json").read_text())
    assert report
    best = run / "cycle1" / "pick" / "best"
    assert best.exists() and best.resolve().parent == (run / "cycle1" / "gan").resolve()


def test_pretraining_can_start_from_a_generator_checkpoint(
    full_run: Path, images: Path, tmp_path: Path
) -> None:
    from vs_colorize.training.archs import build_generator
    from vs_colorize.training.cli import main

    init = full_run / "cycle1" / "generator.pt"
    out = tmp_path / "finetune"
    args = ["pretrain-gen", "--recipe", "tiny", "--data", str(images), "--out", str(out)]
    assert main([*args, "--set", f"gen.init={init}", "--set", "data.crappify.noise=noisify"]) == 0
    start = load_generator(init).state_dict()
    frozen = load_generator(out / "gen_pretrain" / "stage0.pt").state_dict()
    fresh = build_generator("tiny").state_dict()
    key = "layers.0.0.weight"  # the stem conv: frozen during stage 0, so still the init checkpoint's
    assert torch.equal(frozen[key], start[key]) and not torch.equal(frozen[key], fresh[key])
    assert load_generator(out / "gen_pretrain" / "generator.pt").config == preset("tiny")


def test_arch_overrides_train_a_wider_generator_that_exports(images: Path, tmp_path: Path) -> None:
    from vs_colorize.training.cli import main

    out = tmp_path / "wide"
    args = ["pretrain-gen", "--recipe", "tiny", "--data", str(images), "--out", str(out), "-q"]
    stage = '[{"size": 32, "batch_size": 2, "lr": [1e-3, 1e-3], "max_steps": 1}]'
    assert (
        main([*args, "--set", 'gen.arch_overrides={"encoder_width": 24}', "--set", f"gen.stages={stage}"])
        == 0
    )
    gen = load_generator(out / "gen_pretrain" / "generator.pt")
    assert gen.config == dataclasses.replace(preset("tiny"), encoder_width=24, name="tiny-encoder_width24")
    assert gen.layers[0][0].weight.shape[0] == 24  # the stem is 24 wide, not tiny's 16

    from vs_colorize.core.contract import read_model_info
    from vs_colorize.export.cli import main as export_main

    onnx = tmp_path / "wide.onnx"
    ckpt = str(out / "gen_pretrain" / "generator.pt")
    assert export_main(["-q", "onnx", "--checkpoint", ckpt, "--out", str(onnx), "--dynamic", "32", "64"]) == 0
    assert read_model_info(onnx).arch == "tiny-encoder_width24"  # the export records the custom architecture


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ('gen.arch_overrides={"width": 24}', r"gen.arch_overrides has unknown keys \['width'\]"),
        ('gen.arch_overrides={"encoder_width": 4}', "gen.arch_overrides: GeneratorConfig: encoder_width"),
        ("gen.arch=huge", "gen.arch must be one of"),
    ],
)
def test_arch_override_errors_name_the_field(item: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        apply_overrides(get_recipe("tiny"), [item])


def test_gan_phase_honours_the_critic_threshold(full_run: Path, tmp_path: Path) -> None:
    """A BCE loss is never below 0, so ``critic_thresh=0`` keeps the critic training every step; a phase that
    ignored the threshold (switching after every critic step) would alternate as with tiny's 0.7."""
    from vs_colorize.training.cli import main

    run = tmp_path / "run"
    shutil.copytree(full_run, run)
    cfg = json.loads((run / "config.json").read_text())
    cfg["gan"]["critic_thresh"] = 0.0
    (run / "config.json").write_text(json.dumps(cfg))
    progress = run / "progress.json"
    done = json.loads(progress.read_text())["done"]
    progress.write_text(json.dumps({"done": [p for p in done if p != "gan.1"]}))
    shutil.rmtree(run / "cycle1" / "gan")

    assert main(["gan", "--out", str(run), "--cycle", "1"]) == 0
    gan = [_steps(run)[("gan.1", s)] for s in range(1, 5)]
    assert [r["gen_mode"] for r in gan] == [0.0] * 4
    assert all(r["critic_loss"] > 0.0 for r in gan)
