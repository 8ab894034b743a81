"""Critic pretraining (NoGAN step 3): a binary classifier, real (1) vs generated (0), BCE on every logit.

Cycle 0 trains a fresh critic with ``critic.first`` (DeOldify: 128 px, lr 1e-3); later cycles continue the critic
that came out of the previous GAN phase with ``critic.later`` (192 px, lr 1e-4), on that cycle's new fakes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from training import dist
from training.archs import CriticConfig, build_critic
from training.checkpoint import load_critic, save_critic
from training.config import to_dict
from training.data import CriticDataset, StepSampler, make_loader
from training.engine import (
    adam,
    load_checkpoint,
    loop_state,
    one_cycle,
    optimizer_step,
    restore_loop_state,
    seed_everything,
    steps_for,
)
from training.losses import AdaptiveBCE
from training.phases.context import Run
from training.phases.fakes import fakes_index

log = logging.getLogger(__name__)


def phase_name(cycle: int) -> str:
    """The plan name of cycle ``cycle``'s critic pretraining (``critic.<cycle>``)."""
    return f"critic.{cycle}"


def critic_path(run: Run, cycle: int) -> Path:
    """The pretrained critic of cycle ``cycle``."""
    return run.cycle_dir(cycle) / "critic.pt"


def gan_critic_path(run: Run, cycle: int) -> Path:
    """The critic as cycle ``cycle``'s GAN phase left it."""
    return run.cycle_dir(cycle) / "critic_gan.pt"


def run_critic(run: Run, cycle: int) -> None:
    """Pretrain the critic of ``cycle`` on ``cycle<c>/fakes.json`` and save ``cycle<c>/critic.pt``."""
    cfg = run.cfg
    st = cfg.critic.first if cycle == 0 else cfg.critic.later
    phase = phase_name(cycle)
    resume = run.resume_path(phase)
    state = load_checkpoint(resume) if resume.exists() else None
    seed_everything(run.seed(phase))
    if state is not None:
        critic = load_critic(resume)
    elif cycle == 0:
        critic = build_critic(CriticConfig(**cfg.critic.arch))
    else:
        critic = load_critic(gan_critic_path(run, cycle - 1))
    critic = run.precision.model(critic.train())
    index = json.loads(fakes_index(run, cycle).read_text())
    items = [(p, 0.0) for p in index["fakes"]] + [(p, 1.0) for p in index["reals"]]
    opt = adam([list(critic.parameters())], [st.lr], cfg.critic.wd)
    total = steps_for(len(items), st.batch_size, run.info.world, st.epochs, st.max_steps)
    sched = one_cycle(opt, total, st.pct_start)
    scaler = run.precision.scaler()
    step = 0
    if state is not None:
        step = restore_loop_state(state, opt, sched, scaler)
        run.logs.event("resume", phase=phase, step=step)
    run.logs.event(
        "start", phase=phase, size=st.size, batch_size=st.batch_size, steps=total, images=len(items)
    )
    model = dist.wrap(critic, run.info, run.device)
    bce = AdaptiveBCE()
    sampler = StepSampler(
        len(items), st.batch_size, run.seed(phase), total, step, run.info.rank, run.info.world
    )
    loader = make_loader(CriticDataset(items, cfg.data, st.size), sampler, cfg.data, run.pin_memory())
    bar = run.logs.bar(phase, total, step)
    for x, label in loader:
        x, label = run.precision.batch(x), label.to(run.device)
        with run.precision.autocast():
            logits = model(x)
            loss = bce(logits.float(), label)
        optimizer_step(opt, scaler, loss)
        lr = opt.param_groups[0]["lr"]
        sched.step()
        step += 1
        acc = critic_accuracy(logits, label)
        value = float(dist.mean_across(loss.detach()))
        run.logs.step(
            phase,
            step,
            {"loss": value, "accuracy": float(dist.mean_across(acc)), "lr": lr},
        )
        bar.update(1)
        bar.set_postfix(loss=f"{value:.4f}")
        if step % cfg.checkpoint_every == 0 and step < total and run.info.is_main:
            saved = loop_state(opt, sched, scaler)
            save_critic(resume, critic, phase=phase, step=step, config=to_dict(cfg), **saved)
    bar.close()
    run.logs.event("end", phase=phase, step=step)
    if run.info.is_main:
        save_critic(critic_path(run, cycle), critic, phase=phase, step=step, config=to_dict(cfg))
    run.mark_done(phase)


def critic_accuracy(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Fraction of images whose mean logit has the sign of their label."""
    return ((logits.detach().float().mean(dim=1) > 0).float() == label).float().mean()
