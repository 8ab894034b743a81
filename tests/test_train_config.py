"""Config round trip and overrides, recipes, and the optimisation helpers (layer groups, lrs, one-cycle, RNG state)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from vs_colorize.training.archs import build_generator
from vs_colorize.training.config import (
    TrainConfig,
    apply_overrides,
    from_dict,
    load_config,
    save_config,
    to_dict,
)
from vs_colorize.training.optim import (
    discriminative_lrs,
    layer_groups,
    one_cycle,
    set_encoder_frozen,
    steps_for,
)
from vs_colorize.training.recipes import RECIPES, get_recipe
from vs_colorize.training.state import rng_state, set_rng_state


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipes_round_trip_through_json(name: str, tmp_path: Path) -> None:
    cfg = get_recipe(name)
    save_config(cfg, tmp_path / "config.json")
    assert load_config(tmp_path / "config.json") == cfg
    assert from_dict(TrainConfig, to_dict(cfg)) == cfg


def test_recipes_carry_deoldify_settings() -> None:
    stable, video, artistic = get_recipe("stable"), get_recipe("video"), get_recipe("artistic")
    assert [s.size for s in stable.gen.stages] == [64, 64, 128, 192]
    assert stable.gen.stages[0].frozen and stable.gen.stages[0].pct_start == 0.8
    assert stable.gen.stages[0].lr == (0.0, 1e-3) and stable.gen.stages[1].lr == (3e-7, 3e-4)
    assert stable.gen.stages[2].lr == (1e-7, 1e-4) and stable.gen.stages[3].lr == (5e-8, 5e-5)
    assert (stable.gan.lr, stable.gan.weights_gen, stable.gan.batch_size) == (2e-5, (1.0, 1.5), 5)
    assert (video.gan.lr, video.cycles, video.data.crappify.noise) == (5e-6, 1, "noisify")
    assert (artistic.gan.lr, artistic.gan.weights_gen, artistic.gan.batch_size) == (1e-5, (1.0, 2.0), 9)
    for cfg in (stable, video, artistic):
        assert cfg.gan.critic_thresh == 0.65 and cfg.gan.betas == (0.0, 0.9) and cfg.gan.critic_lr_mult == 5.0
        assert cfg.loss.layer_weights == (20.0, 70.0, 10.0) and cfg.data.crappify.max_lighting == 0.5
        assert cfg.critic.arch == {} and cfg.critic.wd == 1e-3 and cfg.data.max_zoom == 1.2


def test_overrides_nested_indexed_and_typed() -> None:
    cfg = apply_overrides(
        get_recipe("tiny"),
        [
            "gan.lr=3e-5",
            "gen.stages.1.batch_size=2",
            "gen.stages.0.lr=[1e-4, 2e-3]",
            "data.do_flip=false",
            "data.dirs=/a,/b",
            "loss.vgg_weights=random",
            'critic.arch={"nf": 32}',
            "cycles=3",
        ],
    )
    assert cfg.gan.lr == 3e-5 and cfg.gen.stages[1].batch_size == 2 and cfg.gen.stages[0].lr == (1e-4, 2e-3)
    assert cfg.data.do_flip is False and cfg.data.dirs == ["/a", "/b"] and cfg.critic.arch == {"nf": 32}
    assert cfg.cycles == 3 and isinstance(cfg.gan.lr, float)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("gan.nope=1", "unknown key 'gan.nope'"),
        ("gan.lr", "expected key=value"),
        ("data.do_flip=1", "must be true or false"),
        ("gan.batch_size=2.5", "must be an integer"),
        ("gan.lr=fast", "must be a number"),
        ("gen.stages.9.size=64", "out of range"),
        ("amp=fp8", "amp must be one of"),
        ("gan.size=100", "multiple of 32"),
    ],
)
def test_override_errors_name_the_key(item: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        apply_overrides(get_recipe("tiny"), [item])


def test_unknown_recipe() -> None:
    with pytest.raises(ValueError, match="get_recipe: name"):
        get_recipe("vintage")


def test_discriminative_lrs_like_fastai_slices() -> None:
    assert discriminative_lrs((0.0, 1e-3)) == pytest.approx([1e-4, 1e-4, 1e-3])
    assert discriminative_lrs((3e-7, 3e-4)) == pytest.approx([3e-7, 3e-7 * 1000**0.5, 3e-4])
    with pytest.raises(ValueError, match="discriminative_lrs"):
        discriminative_lrs((1e-3, 1e-4))


def test_layer_groups_split_the_generator_like_deoldify() -> None:
    gen = build_generator("tiny")
    groups = layer_groups(gen)
    assert len(groups) == 3
    ids = [id(p) for g in groups for p in g]
    assert len(ids) == len(set(ids)) == len(list(gen.parameters()))
    encoder = list(gen.layers[0].children())
    assert {id(p) for p in encoder[0].parameters()} <= {id(p) for p in groups[0]}  # stem conv
    assert {id(p) for p in encoder[6].parameters()} <= {id(p) for p in groups[1]}  # layer3
    assert {id(p) for p in gen.layers[4].parameters()} <= {id(p) for p in groups[2]}  # first decoder block


def test_frozen_encoder_keeps_batchnorm_trainable() -> None:
    gen = build_generator("tiny")
    set_encoder_frozen(gen, True)
    for m in gen.layers[0].modules():
        for p in m.parameters(recurse=False):
            assert p.requires_grad == isinstance(m, nn.BatchNorm2d)
    assert all(p.requires_grad for m in list(gen.layers)[1:] for p in m.parameters())
    set_encoder_frozen(gen, False)
    assert all(p.requires_grad for p in gen.parameters())


def test_one_cycle_matches_fastai_shape() -> None:
    opt = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=1e-3)
    sched = one_cycle(opt, total_steps=100, pct_start=0.3)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(1e-3 / 25)
    assert max(lrs) == pytest.approx(1e-3, rel=1e-3) and int(np.argmax(lrs)) in (29, 30)
    assert lrs[-1] < 1e-3 / 25 / 100


def test_steps_for() -> None:
    assert steps_for(1000, 10, 1, 1.0, 0) == 100
    assert steps_for(1000, 10, 2, 0.5, 0) == 25
    assert steps_for(5, 10, 1, 1.0, 0) == 1
    assert steps_for(1000, 10, 1, 1.0, 7) == 7


def test_rng_state_round_trip(tmp_path: Path) -> None:
    torch.save(rng_state(), tmp_path / "rng.pt")
    state = torch.load(tmp_path / "rng.pt", weights_only=True)  # checkpoints stay weights_only-loadable
    a = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(state)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
