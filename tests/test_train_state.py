"""TrainState files: round trip, old layouts, and a GAN phase resumed from one (switcher mode, one read, no hash)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import vs_colorize.core.fileio
import vs_colorize.training.checkpoint
from vs_colorize.training import dist
from vs_colorize.training.archs import CriticConfig, build_critic, build_generator
from vs_colorize.training.checkpoint import CheckpointError, save_critic, save_generator
from vs_colorize.training.config import apply_overrides
from vs_colorize.training.phases import execute, open_run
from vs_colorize.training.phases.context import Kind, Phase, Run
from vs_colorize.training.phases.switcher import AdaptiveSwitcher
from vs_colorize.training.recipes import get_recipe
from vs_colorize.training.state import TrainState

GAN = Phase(Kind.GAN, 0)


def _live() -> tuple[torch.nn.Module, torch.optim.Optimizer, torch.amp.GradScaler]:
    torch.manual_seed(0)
    gen = build_generator("tiny")
    opt = torch.optim.AdamW(gen.parameters(), lr=1e-3)
    gen(torch.rand(2, 3, 64, 64)).mean().backward()
    opt.step()
    return gen, opt, torch.amp.GradScaler("cpu", enabled=False)


def test_state_round_trip_restores_optimiser_rng_and_extra(tmp_path: Path) -> None:
    gen, opt, scaler = _live()
    switcher = AdaptiveSwitcher(gen_mode=True)
    saved = TrainState.capture(
        "gan.0",
        5,
        {"generator": gen},
        {"generator": opt},
        {},
        {"generator": scaler},
        {"s": switcher.state_dict()},
    )
    path = saved.save(tmp_path / "resume" / "gan.0.pt")
    expected = torch.rand(4)  # what the RNG gives right after the capture

    state = TrainState.load(path)
    assert (state.phase, state.step) == ("gan.0", 5)
    restored = AdaptiveSwitcher()
    restored.load_state_dict(state.extra["s"])
    assert restored == switcher
    fresh_opt = torch.optim.AdamW(state.generator().parameters(), lr=1.0)
    state.restore({"generator": fresh_opt}, {}, {"generator": scaler})
    assert torch.equal(torch.rand(4), expected)
    assert fresh_opt.param_groups[0]["lr"] == 1e-3
    for a, b in zip(fresh_opt.state.values(), opt.state.values(), strict=True):
        assert torch.equal(a["exp_avg"], b["exp_avg"])
    rebuilt = state.generator()
    for key, value in gen.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[key], value), key
    with pytest.raises(CheckpointError, match=r"saved optimizers \['generator'\], this run has \[\]"):
        state.restore({}, {}, {"generator": scaler})
    with pytest.raises(CheckpointError, match="has no model 'critic'"):
        state.critic()


def test_model_files_and_old_resume_files_are_refused_clearly(tmp_path: Path) -> None:
    gen, opt, _ = _live()
    model_file = save_generator(tmp_path / "generator.pt", gen, step=3)
    with pytest.raises(CheckpointError, match=r"generator\.pt' has format 'vs-colorize/generator', expected"):
        TrainState.load(model_file)
    # what the previous layout wrote as resume/<phase>.pt: a generator file carrying the optimiser
    old = save_generator(tmp_path / "gen.0.pt", gen, optimizer=opt.state_dict(), step=3)
    with pytest.raises(
        CheckpointError, match=r"gen\.0\.pt' is a resume checkpoint of the previous layout.*delete"
    ):
        TrainState.load(old)
    state = TrainState.capture("gen.0", 1, {"generator": gen}, {}, {}, {})
    with pytest.raises(
        CheckpointError, match="has format 'vs-colorize/train-state', expected 'vs-colorize/generator'"
    ):
        vs_colorize.training.checkpoint.load_generator(state.save(tmp_path / "state.pt"))


def _gan_run(root: Path, images: Path) -> Run:
    """A tiny run whose phases before gan.0 are recorded as done, with a generator and a critic to start from."""
    cfg = apply_overrides(
        get_recipe("tiny"),
        [
            "data.dirs=" + json.dumps([str(images)]),
            "gan.save_every_steps=1",
            "gan.max_steps=3",
            "gan.batch_size=2",
        ],
    )
    root.mkdir()
    done = [
        p.name for p in (Phase(Kind.GEN, 0), Phase(Kind.GEN, 1), Phase(Kind.FAKES, 0), Phase(Kind.CRITIC, 0))
    ]
    (root / "progress.json").write_text(json.dumps({"done": done}))
    torch.manual_seed(1)
    save_generator(root / "gen_pretrain" / "generator.pt", build_generator("tiny"))
    save_critic(root / "cycle0" / "critic.pt", build_critic(CriticConfig(**cfg.critic.arch)))
    return open_run(cfg, root, dist.DistInfo())


def _gan_steps(root: Path) -> dict[int, dict[str, float]]:
    out = {}
    for line in (root / "losses.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec.get("phase") == GAN.name and "event" not in rec:
            out[rec.pop("step")] = rec
    return out


class _Stop(Exception):
    pass


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("colour")
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (80, 80, 3), dtype=np.uint8), "RGB").save(folder / f"{i}.png")
    return folder


def test_gan_resume_restores_the_switcher_mode_and_reads_the_state_once(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = _gan_run(tmp_path / "whole", images)
    execute(whole, (Kind.GAN,), cycle=0)
    whole.logs.close()
    expected = _gan_steps(tmp_path / "whole")
    assert [expected[s]["gen_mode"] for s in (1, 2, 3)] == [0.0, 1.0, 0.0]

    root = tmp_path / "killed"
    run = _gan_run(root, images)
    record = run.logs.step

    def stop_at_step_2(phase: str, step: int, values: dict[str, float]) -> None:
        if step == 2:
            raise _Stop  # after step 1 (a critic step) the switcher is in generator mode
        record(phase, step, values)

    monkeypatch.setattr(run.logs, "step", stop_at_step_2)
    with pytest.raises(_Stop):
        execute(run, (Kind.GAN,), cycle=0)
    run.logs.close()
    resume = run.resume_path(GAN)
    assert TrainState.load(resume).step == 1

    loads: list[Path] = []
    real_load = torch.load

    def counting_load(f: Any, *args: Any, **kwargs: Any) -> Any:
        loads.append(Path(str(f)))
        return real_load(f, *args, **kwargs)

    def no_hashing(path: object, *args: object) -> str:
        raise AssertionError(f"resume hashed {path}")

    monkeypatch.setattr(torch, "load", counting_load)
    monkeypatch.setattr(vs_colorize.training.checkpoint, "sha256_file", no_hashing)
    monkeypatch.setattr(vs_colorize.core.fileio, "sha256_file", no_hashing)
    resumed = open_run(run.cfg, root, dist.DistInfo())
    execute(resumed, (Kind.GAN,), cycle=0)
    resumed.logs.close()
    assert loads == [resume]  # the state is read once; its models are built from what was read

    got = _gan_steps(root)
    assert got[2]["gen_mode"] == 1.0  # the resumed step trains the generator, as the uninterrupted run did
    assert got == expected
    assert not resume.exists()
