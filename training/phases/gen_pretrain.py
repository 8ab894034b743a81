"""Generator pretraining (NoGAN step 1): the feature loss only, progressive crop sizes, frozen then unfrozen encoder.

Each :class:`training.config.GenStage` is one ``fit_one_cycle``: stage 0 builds the generator (ImageNet encoder
when asked), later stages continue from the previous stage's file. A resume checkpoint (generator layout plus
optimiser, schedule, step, RNG) is written every ``checkpoint_every`` steps.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import torch
from torch import nn

from training import dist
from training.archs import UnetGenerator, build_generator
from training.checkpoint import load_generator, save_generator
from training.config import to_dict
from training.data import ColorizeDataset, StepSampler, denormalise, make_loader
from training.engine import (
    adam,
    discriminative_lrs,
    layer_groups,
    load_checkpoint,
    loop_state,
    one_cycle,
    optimizer_step,
    restore_loop_state,
    seed_everything,
    set_encoder_frozen,
    steps_for,
)
from training.losses import FeatureLoss
from training.phases.context import Run

log = logging.getLogger(__name__)

#: Batches of the validation split scored at the end of each stage.
VAL_BATCHES = 16


def phase_name(stage: int) -> str:
    """The plan name of pretraining stage ``stage`` (``gen.<stage>``)."""
    return f"gen.{stage}"


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
    return build_generator(run.cfg.gen.arch, pretrained_encoder=pretrained)


def run_gen_stage(run: Run, stage: int, loss_fn: FeatureLoss) -> None:
    """Train pretraining stage ``stage`` (resuming from its checkpoint if one exists) and save its generator."""
    cfg, st = run.cfg, run.cfg.gen.stages[stage]
    phase = phase_name(stage)
    resume = run.resume_path(phase)
    state = load_checkpoint(resume) if resume.exists() else None
    seed_everything(run.seed(phase))
    gen = load_generator(resume) if state is not None else _initial_generator(run, stage)
    gen = run.precision.model(gen.train())
    set_encoder_frozen(gen, st.frozen)
    opt = adam(layer_groups(gen), discriminative_lrs(st.lr), cfg.gen.wd)
    total = steps_for(len(run.scan.train), st.batch_size, run.info.world, st.epochs, st.max_steps)
    sched = one_cycle(opt, total, st.pct_start)
    scaler = run.precision.scaler()
    step = 0
    if state is not None:
        step = restore_loop_state(state, opt, sched, scaler)
        run.logs.event("resume", phase=phase, step=step)
    run.logs.event(
        "start", phase=phase, size=st.size, batch_size=st.batch_size, steps=total, frozen=st.frozen
    )
    model = dist.wrap(gen, run.info, run.device)
    loss_fn.to(run.device)
    sampler = StepSampler(
        len(run.scan.train), st.batch_size, run.seed(phase), total, step, run.info.rank, run.info.world
    )
    loader = make_loader(
        ColorizeDataset(run.scan.train, cfg.data, st.size), sampler, cfg.data, run.pin_memory()
    )
    bar = run.logs.bar(phase, total, step)
    for x, y in loader:
        x, y = run.precision.batch(x), run.precision.batch(y)
        with run.precision.autocast():
            pred = model(x)
            loss = loss_fn(pred.float(), y)
        optimizer_step(opt, scaler, loss)
        lr = opt.param_groups[-1]["lr"]
        sched.step()
        step += 1
        value = float(dist.mean_across(loss.detach()))
        run.logs.step(phase, step, {"loss": value, "lr": lr, **loss_fn.terms})
        bar.update(1)
        bar.set_postfix(loss=f"{value:.4f}")
        if step % cfg.image_every == 0 or step == total:
            run.logs.images(f"{phase}/input_output_target", step, [denormalise(t) for t in (x, pred, y)])
        if step % cfg.checkpoint_every == 0 and step < total and run.info.is_main:
            saved = loop_state(opt, sched, scaler)
            save_generator(resume, gen, phase=phase, step=step, config=to_dict(cfg), **saved)
    bar.close()
    val = validate(run, gen, loss_fn, st.size)
    run.logs.event("end", phase=phase, step=step, val_loss=val)
    if run.info.is_main:
        save_generator(stage_path(run, stage), gen, phase=phase, step=step, val_loss=val, config=to_dict(cfg))
        if stage == len(cfg.gen.stages) - 1:
            save_generator(run.out / "gen_pretrain" / "generator.pt", gen, phase="gen_pretrain", val_loss=val)
    run.mark_done(phase)


def validate(run: Run, gen: nn.Module, loss_fn: FeatureLoss, size: int) -> float:
    """Mean feature loss on (up to :data:`VAL_BATCHES` batches of) the validation split, averaged over ranks."""
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
