"""Critic pretraining (NoGAN step 3): a binary classifier, real (1) vs generated (0), BCE on every logit.

Cycle 0 trains a fresh critic with ``critic.first`` (DeOldify: 128 px, lr 1e-3); later cycles continue the critic
that came out of the previous GAN phase with ``critic.later`` (192 px, lr 1e-4), on that cycle's new fakes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from vs_colorize.training import dist
from vs_colorize.training.archs import CriticConfig, build_critic
from vs_colorize.training.checkpoint import load_critic, save_critic
from vs_colorize.training.config import to_dict
from vs_colorize.training.data import CriticDataset
from vs_colorize.training.losses import AdaptiveBCE
from vs_colorize.training.optim import adam, optimizer_step
from vs_colorize.training.phases.context import Phase, Run
from vs_colorize.training.phases.fakes import fakes_index
from vs_colorize.training.phases.loop import one_cycle_loop, resume_state

log = logging.getLogger(__name__)


def critic_path(run: Run, cycle: int) -> Path:
    """The pretrained critic of cycle ``cycle``."""
    return run.cycle_dir(cycle) / "critic.pt"


def gan_critic_path(run: Run, cycle: int) -> Path:
    """The critic as cycle ``cycle``'s GAN phase left it."""
    return run.cycle_dir(cycle) / "critic_gan.pt"


def run_critic(run: Run, phase: Phase) -> None:
    """Pretrain the critic of cycle ``phase.index`` on ``cycle<c>/fakes.json`` and save ``cycle<c>/critic.pt``."""
    cfg, cycle = run.cfg, phase.index
    st = cfg.critic.first if cycle == 0 else cfg.critic.later
    resumed = resume_state(run, phase)
    if resumed is not None:
        critic = resumed.critic()
    elif cycle == 0:
        critic = build_critic(CriticConfig(**cfg.critic.arch))
    else:
        critic = load_critic(gan_critic_path(run, cycle - 1))
    critic = run.precision.model(critic.train())
    index = json.loads(fakes_index(run, cycle).read_text())
    items = [(p, 0.0) for p in index["fakes"]] + [(p, 1.0) for p in index["reals"]]
    opt = adam([list(critic.parameters())], [st.lr], cfg.critic.wd)
    loop, sched, scaler = one_cycle_loop(
        run, phase, resumed, st, "critic", critic, opt, len(items), images=len(items)
    )
    model = dist.wrap(critic, run.info, run.device)
    bce = AdaptiveBCE()
    for x, label in loop.loader(CriticDataset(items, cfg.data, st.size), len(items), st.batch_size):
        x, label = run.precision.batch(x), label.to(run.device)
        with run.precision.autocast():
            logits = model(x)
            loss = bce(logits.float(), label)
        optimizer_step(opt, scaler, loss)
        lr = opt.param_groups[0]["lr"]
        sched.step()
        value = float(dist.mean_across(loss.detach()))
        acc = float(dist.mean_across(critic_accuracy(logits, label)))
        loop.end_step({"loss": value, "accuracy": acc, "lr": lr}, postfix={"loss": f"{value:.4f}"})
    loop.finish(
        lambda: save_critic(
            critic_path(run, cycle), critic, phase=phase.name, step=loop.step, config=to_dict(cfg)
        )
    )


def critic_accuracy(logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """Fraction of images whose mean logit has the sign of their label."""
    return ((logits.detach().float().mean(dim=1) > 0).float() == label).float().mean()
