"""Optimisation mechanics shared by the phases: DeOldify's layer groups and encoder freezing, discriminative
learning rates, AdamW and one-cycle schedules, step counts, and the one optimiser-update sequence every network
(colorize generator, critic, SR net) uses.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import nn

from vs_colorize.training.archs import UnetGenerator

#: fastai's Adam defaults for ``Learner`` (betas (0.9, 0.99), decoupled weight decay).
ADAM_BETAS = (0.9, 0.99)
#: DeOldify splits the generator into layer groups at ``encoder[6]`` and at the decoder (``layers.1``).
ENCODER_SPLIT = 6


def layer_groups(gen: UnetGenerator) -> list[list[nn.Parameter]]:
    """DeOldify's three generator layer groups: ``encoder[:6]``, ``encoder[6:]``, everything after the encoder."""
    layers = gen.layers
    encoder = list(layers[0].children())
    first = [p for m in encoder[:ENCODER_SPLIT] for p in m.parameters()]
    second = [p for m in encoder[ENCODER_SPLIT:] for p in m.parameters()]
    rest = [p for m in list(layers)[1:] for p in m.parameters()]
    return [first, second, rest]


def set_encoder_frozen(gen: UnetGenerator, frozen: bool) -> None:
    """Freeze (or unfreeze) the encoder; like fastai, BatchNorm layers stay trainable when frozen."""
    encoder = gen.layers[0]
    for module in encoder.modules():
        is_bn = isinstance(module, nn.modules.batchnorm._BatchNorm)
        for p in module.parameters(recurse=False):
            p.requires_grad_(not frozen or is_bn)


def discriminative_lrs(lr: tuple[float, float], n_groups: int = 3) -> list[float]:
    """fastai's ``lr_range(slice(lo, hi))``: geometric from ``lo`` to ``hi``; ``lo == 0`` → ``[hi/10]·(n-1) + [hi]``."""
    lo, hi = lr
    if hi <= 0 or lo < 0 or lo > hi:
        raise ValueError(f"discriminative_lrs: lr must be (lo, hi) with 0 <= lo <= hi and hi > 0, got {lr}")
    if lo == 0:
        return [hi / 10] * (n_groups - 1) + [hi]
    if n_groups == 1:
        return [hi]
    step = (hi / lo) ** (1 / (n_groups - 1))
    return [lo * step**i for i in range(n_groups)]


def optimizer_step(opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler, loss: torch.Tensor) -> None:
    """One optimiser update from ``loss``: clear the gradients, (scaled) backward, step, update the scale."""
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()


def adam(
    groups: list[list[nn.Parameter]], lrs: list[float], wd: float, betas: tuple[float, float] = ADAM_BETAS
) -> torch.optim.AdamW:
    """AdamW (fastai's ``true_wd``) over parameter groups with their own learning rates."""
    params = [{"params": g, "lr": lr} for g, lr in zip(groups, lrs, strict=True) if g]
    return torch.optim.AdamW(params, betas=betas, weight_decay=wd)


def one_cycle(
    opt: torch.optim.Optimizer, total_steps: int, pct_start: float
) -> torch.optim.lr_scheduler.OneCycleLR:
    """fastai's ``fit_one_cycle`` schedule over ``total_steps``, peaking at each group's current lr: lr warms from
    max/25 and anneals to max/(25·1e4); beta1 cycles 0.95→0.85→0.95 (fastai's defaults)."""
    max_lrs = [g["lr"] for g in opt.param_groups]
    return torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=max_lrs,
        total_steps=max(total_steps, 2),
        pct_start=pct_start,
        div_factor=25.0,
        final_div_factor=1e4,
        base_momentum=0.85,
        max_momentum=0.95,
    )


def steps_for(n_items: int, batch_size: int, world: int, epochs: float, max_steps: int) -> int:
    """Optimiser steps of a phase: ``max_steps`` when > 0, else ``epochs`` passes over the data (≥ 1 step)."""
    if max_steps > 0:
        return max_steps
    return max(1, math.floor(epochs * (n_items // (batch_size * world))))


@contextlib.contextmanager
def requires_grad(module: nn.Module, flag: bool) -> Iterator[None]:
    """Temporarily set ``requires_grad`` on every parameter of ``module`` (restoring each one's own value)."""
    saved = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in saved:
        p.requires_grad_(flag)
    try:
        yield
    finally:
        for p, old in saved:
            p.requires_grad_(old)
