"""Training mechanics shared by the phases: device and AMP, layer groups, optimisers and one-cycle schedules, RNG
state, checkpoint reading.

Everything here is device-agnostic; AMP and ``channels_last`` only switch on for CUDA (on CPU they are logged and
ignored), so the CPU tests exercise the same code path minus the autocast context.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from training.checkpoint import read_checkpoint

log = logging.getLogger(__name__)

#: fastai ``fit_one_cycle`` defaults: lr warms from max/25, anneals to max/(25·1e4); beta1 cycles 0.95→0.85→0.95.
#: (Keyword arguments of OneCycleLR.)
ONE_CYCLE: dict[str, Any] = {
    "div_factor": 25.0,
    "final_div_factor": 1e4,
    "base_momentum": 0.85,
    "max_momentum": 0.95,
}
#: fastai's Adam defaults for ``Learner`` (betas (0.9, 0.99), decoupled weight decay).
ADAM_BETAS = (0.9, 0.99)
#: DeOldify splits the generator into layer groups at ``encoder[6]`` and at the decoder (``layers.1``).
ENCODER_SPLIT = 6


def select_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` → ``cuda:<local_rank>`` when CUDA is visible, else CPU; otherwise ``torch.device(name)``."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"select_device: device {name!r} asked for but CUDA is not available")
    return dev


class Precision:
    """Autocast and gradient scaling for one device.

    Args:
        device: where the models run.
        amp: ``"none"``, ``"bf16"`` or ``"fp16"``. bf16 runs on CUDA and on the CPU (faster than fp32 on CPUs
            with AVX-512-BF16; measured in docs/benchmarks.md, "Training steps"); fp16 only on CUDA, with a
            ``GradScaler``.
        channels_last: NHWC memory format for models and inputs; only honoured on CUDA.
    """

    def __init__(self, device: torch.device, amp: str, channels_last: bool) -> None:
        cuda = device.type == "cuda"
        if not cuda and amp == "fp16":
            log.warning("precision: amp=fp16 ignored on %s (fp16 autocast needs CUDA; use amp=bf16)", device)
        self.device = device
        use = cuda or amp == "bf16"
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp) if use else None
        self.channels_last = channels_last and cuda
        self.fp16 = self.dtype is torch.float16

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """``torch.autocast`` with the AMP dtype, or a no-op context."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler:
        """A gradient scaler, enabled only for fp16."""
        return torch.amp.GradScaler(self.device.type, enabled=self.fp16)

    def model[M: nn.Module](self, module: M) -> M:
        """Move ``module`` to the device (NHWC when ``channels_last``); returns it."""
        module.to(self.device)
        if self.channels_last:
            module.to(memory_format=torch.channels_last)
        return module

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        """Move a batch to the device in the model's memory format."""
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def layer_groups(gen: nn.Module) -> list[list[nn.Parameter]]:
    """DeOldify's three generator layer groups: ``encoder[:6]``, ``encoder[6:]``, everything after the encoder."""
    layers = cast(nn.ModuleList, gen.layers)  # a UnetGenerator's
    encoder = list(layers[0].children())
    first = [p for m in encoder[:ENCODER_SPLIT] for p in m.parameters()]
    second = [p for m in encoder[ENCODER_SPLIT:] for p in m.parameters()]
    rest = [p for m in list(layers)[1:] for p in m.parameters()]
    return [first, second, rest]


def set_encoder_frozen(gen: nn.Module, frozen: bool) -> None:
    """Freeze (or unfreeze) the encoder; like fastai, BatchNorm layers stay trainable when frozen."""
    encoder = cast(nn.ModuleList, gen.layers)[0]  # a UnetGenerator's
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
    """fastai's ``fit_one_cycle`` schedule over ``total_steps``, peaking at each group's current lr."""
    max_lrs = [g["lr"] for g in opt.param_groups]
    return torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=max_lrs, total_steps=max(total_steps, 2), pct_start=pct_start, **ONE_CYCLE
    )


def steps_for(n_items: int, batch_size: int, world: int, epochs: float, max_steps: int) -> int:
    """Optimiser steps of a phase: ``max_steps`` when > 0, else ``epochs`` passes over the data (≥ 1 step)."""
    if max_steps > 0:
        return max_steps
    return max(1, math.floor(epochs * (n_items // (batch_size * world))))


def rng_state() -> dict[str, Any]:
    """Every global RNG state (torch CPU and CUDA, numpy, python) as ``weights_only``-loadable data."""
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy_key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
        "numpy_pos": int(np_state["state"]["pos"]),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": state["numpy_key"].numpy().astype(np.uint32), "pos": state["numpy_pos"]},
            "has_gauss": 0,
            "gauss": 0.0,
        }
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def loop_state(opt: Any, sched: Any, scaler: Any) -> dict[str, Any]:
    """What a single-optimiser phase's resume checkpoint stores beside the model (see :func:`restore_loop_state`)."""
    return {
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": rng_state(),
    }


def restore_loop_state(state: dict[str, Any], opt: Any, sched: Any, scaler: Any) -> int:
    """Load a single-optimiser phase's saved optimiser, scheduler, scaler and RNG state; return its step."""
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    return int(state["step"])


def seed_everything(seed: int) -> None:
    """Seed torch (all devices), numpy and python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A training checkpoint, loaded on the CPU with ``weights_only=True`` (``training.checkpoint.read_checkpoint``:
    numpy scalars allowed, a clear ``CheckpointError`` for unreadable files)."""
    return read_checkpoint(path, "load_checkpoint")


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
