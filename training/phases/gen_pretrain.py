"""Generator pretraining (NoGAN step 1): the feature loss only, progressive crop sizes, frozen then unfrozen encoder.

Each :class:`vs_colorize.training.config.GenStage` is one ``fit_one_cycle``: stage 0 builds the generator (ImageNet encoder
when asked), later stages continue from the previous stage's file. The phase's training state (generator,
optimiser, schedule, scaler, step, RNG) is saved every ``checkpoint_every`` steps.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import torch

from vs_colorize.training import dist
from vs_colorize.training.archs import UnetGenerator, build_generator
from vs_colorize.training.checkpoint import load_generator, save_generator
from vs_colorize.training.config import to_dict
from vs_colorize.training.data import ColorizeDataset, StepSampler, make_loader
from vs_colorize.training.losses import GeneratorLoss
from vs_colorize.training.optim import (
    adam,
    discriminative_lrs,
    layer_groups,
    optimizer_step,
    set_encoder_frozen,
)
from vs_colorize.training.phases.context import Phase, Run
from vs_colorize.training.phases.loop import one_cycle_loop, resume_state

log = logging.getLogger(__name__)

#: Batches of the validation split scored at the end of each stage.
VAL_BATCHES = 16


def stage_path(run: Run, stage: int) -> Path:
    """Where the generator after pretraining stage ``stage`` is saved."""
    return run.out / "gen_pretrain" / f"stage{stage}.pt"


def _initial_generator(run: Run, stage: int) -> UnetGenerator:
    if stage > 0:
        return load_generator(stage_path(run, stage - 1))
    if run.cfg.gen.init:
        return load_generator(run.cfg.gen.init)
    enc = run.cfg.gen.pretrained_encoder
    pretrained: bool | str | None = {"none": None, "imagenet": True}.get(enc, enc)
    return build_generator(run.cfg.gen.architecture(), pretrained_encoder=pretrained)


def run_gen_stage(run: Run, phase: Phase) -> None:
    """Train pretraining stage ``phase.index`` (resuming from its saved state if one exists) and save its
    generator."""
    cfg, stage = run.cfg, phase.index
    st = cfg.gen.stages[stage]
    resumed = resume_state(run, phase)
    gen = resumed.generator() if resumed is not None else _initial_generator(run, stage)
    gen = run.precision.model(gen.train())
    set_encoder_frozen(gen, st.frozen)
    opt = adam(layer_groups(gen), discriminative_lrs(st.lr), cfg.gen.wd)
    n = len(run.scan.train)
    loop, sched, scaler = one_cycle_loop(run, phase, resumed, st, "generator", gen, opt, n, frozen=st.frozen)
    model = dist.wrap(gen, run.info, run.device)
    loss_fn = run.generator_loss().to(run.device)
    data = ColorizeDataset(run.scan.train, cfg.data, st.size)
    for x, y in loop.loader(data, n, st.batch_size):
        x, y = run.precision.batch(x), run.precision.batch(y)
        with run.precision.autocast():
            pred = model(x)
            loss = loss_fn(pred.float(), y)
        optimizer_step(opt, scaler, loss)
        lr = opt.param_groups[-1]["lr"]
        sched.step()
        value = float(dist.mean_across(loss.detach()))
        loop.end_step(
            {"loss": value, "lr": lr, **loss_fn.terms}, postfix={"loss": f"{value:.4f}"}, images=(x, pred, y)
        )
    val = validate(run, gen, loss_fn, st.size)

    def write() -> None:
        step = loop.step
        save_generator(
            stage_path(run, stage), gen, phase=phase.name, step=step, val_loss=val, config=to_dict(cfg)
        )
        if stage == len(cfg.gen.stages) - 1:
            save_generator(run.out / "gen_pretrain" / "generator.pt", gen, phase="gen_pretrain", val_loss=val)

    loop.finish(write, val_loss=val)


def validate(run: Run, gen: UnetGenerator, loss_fn: GeneratorLoss, size: int) -> float:
    """Mean generator loss on (up to :data:`VAL_BATCHES` batches of) the validation split, averaged over ranks."""
    items = run.scan.val
    bs = min(run.cfg.gen.stages[-1].batch_size, len(items) // run.info.world)
    if bs < 1:
        return float("nan")
    total = min(VAL_BATCHES, len(items) // (bs * run.info.world))
    sampler = StepSampler(len(items), bs, run.cfg.seed, total, 0, run.info.rank, run.info.world)
    data = ColorizeDataset(items, run.cfg.data, size, train=False)
    loader = make_loader(data, sampler, run.cfg.data, run.pin_memory())
    gen.eval()
    losses: list[float] = []
    with torch.no_grad(), run.precision.autocast():
        for x, y in itertools.islice(loader, total):
            pred = gen(run.precision.batch(x))
            losses.append(float(loss_fn(pred.float(), run.precision.batch(y))))
    gen.train()
    return float(dist.mean_across(torch.tensor(sum(losses) / len(losses))))
