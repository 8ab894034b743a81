"""Training of the SR model on crappified 3-frame tuples with the stability loss (PSSR recipe, short form).

:func:`train` runs Adam with a cosine-decayed learning rate for ``steps`` steps on random crops, logs the loss
parts, and writes ``<out>/checkpoint.pt`` (the model-file layout of :mod:`vs_colorize.training.checkpoint`, every network's)
and ``<out>/config.json`` (the resolved :class:`SRTrainConfig`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from vs_colorize.core.fileio import write_text_atomic
from vs_colorize.core.percentile import DEFAULT_PMAX, DEFAULT_PMIN, check_percentiles
from vs_colorize.training.archs.sr import SRConfig, build_sr
from vs_colorize.training.checkpoint import save_sr
from vs_colorize.training.optim import optimizer_step

from .crappify import SRCrappifyConfig
from .data import PAIRS, TripletDataset, load_sequence
from .loss import StabilityLoss

log = logging.getLogger("vs_colorize.training.sr")


@dataclass(frozen=True, kw_only=True)
class SRTrainConfig:
    """One SR training run.

    Args:
        data: sequences to train on (TIFF stacks, frame folders or videos).
        out: output directory (checkpoint.pt, config.json).
        model: network config; its ``scale`` must equal ``crappify.scale``.
        crappify: degradation config.
        channel: channel of multi-channel frames (None = luma; 1 = green for GFP in RGB files).
        crop: HR crop side, multiple of the scale and of ``scale · 2**depth`` (default 64).
        batch: tuples per step (default 8).
        steps: optimiser steps (default 300).
        lr: peak Adam learning rate, cosine-decayed to 1 % (default 1e-3).
        loss: pixel loss ``"l1"`` (default) or ``"mse"``.
        stability: λ of the consistency term (default 1.0).
        pair: the second copy of each sample, ``"noise"`` (default, PSSR's: the same tuple crappified again; the
            consistency term compares the two outputs) or ``"adjacent"`` (the neighbouring tuple; the term compares
            the two errors, i.e. trains against error flicker). See :class:`~.data.TripletDataset`.
        silent_neighbours: start a 3-frame network with every weight that reads frames t±1 at zero
            (:meth:`~vs_colorize.training.archs.sr.SRNet.silence_neighbours`): it begins as a single-frame model
            and takes the neighbours in only as far as they lower the loss (default False).
        feature_loss: None (default: pixel loss only) or the VGG16-BN weights for DeOldify's perceptual
            loss on the fit terms: ``"imagenet"`` (torchvision), a local state-dict path, or ``"random"``
            (offline smoke runs only; logged as a warning).
        seed: seeds the weights and the sampling (default 0).
        threads: torch CPU threads (default None: torch's own choice, all physical cores).
        log_every: log the loss every this many steps (default 25).
        normalize: ``(pmin, pmax)`` of CARE's per-image percentile normalisation (default (2, 99.8);
            :mod:`vs_colorize.core.percentile`) or None for raw [0, 1] intensities (the first models' way).
            Stored in the checkpoint (``normalize``), exported into the artifact's metadata and applied by the
            runtime; the network is then built without its [0, 1] output clamp (``SRConfig.clamp``).
    """

    data: tuple[str, ...]
    out: str
    model: SRConfig = field(default_factory=SRConfig)
    crappify: SRCrappifyConfig = field(default_factory=SRCrappifyConfig)
    channel: int | None = 1
    crop: int = 64
    batch: int = 8
    steps: int = 300
    lr: float = 1e-3
    loss: str = "l1"
    stability: float = 1.0
    pair: str = "noise"
    silent_neighbours: bool = False
    feature_loss: str | None = None
    seed: int = 0
    threads: int | None = None
    log_every: int = 25
    normalize: tuple[float, float] | None = (DEFAULT_PMIN, DEFAULT_PMAX)

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("SRTrainConfig: data must name at least one sequence")
        if self.model.scale != self.crappify.scale:
            raise ValueError(
                f"SRTrainConfig: model.scale ({self.model.scale}) must equal crappify.scale ({self.crappify.scale})"
            )
        unit = self.model.scale * 2**self.model.depth
        if self.crop <= 0 or self.crop % unit:
            raise ValueError(f"SRTrainConfig: crop must be a positive multiple of {unit}, got {self.crop}")
        for name in ("batch", "steps", "threads", "log_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"SRTrainConfig: {name} must be >= 1, got {value}")
        if self.pair not in PAIRS:
            raise ValueError(f"SRTrainConfig: pair must be one of {PAIRS}, got {self.pair!r}")
        if self.normalize is not None:
            check_percentiles(*self.normalize, "SRTrainConfig: normalize")
        if self.lr <= 0:
            raise ValueError(f"SRTrainConfig: lr must be > 0, got {self.lr}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cosine_lr(step: int, steps: int, peak: float) -> float:
    """Cosine decay from ``peak`` to ``peak/100`` over ``steps``."""
    return peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / max(1, steps))))


def train(cfg: SRTrainConfig) -> dict[str, Any]:
    """Train one model; returns ``{"history": [...], "checkpoint": path, "seconds": s}``."""
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    arch = cfg.model if cfg.normalize is None else dataclasses.replace(cfg.model, clamp=False)
    resolved = cfg.to_dict() | {"model": arch.to_dict()}  # the network as built (no clamp when normalised)
    write_text_atomic(out / "config.json", json.dumps(resolved, indent=2))
    sequences = [load_sequence(p, cfg.channel) for p in cfg.data]
    dataset = TripletDataset(
        sequences,
        crop=cfg.crop,
        cfg=cfg.crappify,
        length=cfg.batch * cfg.steps,
        window=cfg.model.window,
        seed=cfg.seed,
        pair=cfg.pair,
        normalize=cfg.normalize,
    )
    loader = DataLoader(dataset, batch_size=cfg.batch, shuffle=False, num_workers=0)
    model = build_sr(arch).train()
    if cfg.silent_neighbours:
        model.silence_neighbours()
    feature = None
    if cfg.feature_loss is not None:
        from vs_colorize.training.config import LossConfig
        from vs_colorize.training.losses import build_feature_loss

        feature = build_feature_loss(LossConfig(vgg_weights=cfg.feature_loss, base=cfg.loss))
    criterion = StabilityLoss(cfg.loss, cfg.stability, feature)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scaler = torch.amp.GradScaler("cpu", enabled=False)  # fp32: the shared update sequence without scaling
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    for step, (lr1, lr2, hr1, hr2) in enumerate(loader):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, cfg.steps, cfg.lr)
        parts = criterion(model(lr1), model(lr2), hr1, hr2 if cfg.pair == "adjacent" else None)
        optimizer_step(opt, scaler, parts["loss"])
        record = {k: float(v.detach()) for k, v in parts.items()} | {"step": step + 1}
        history.append(record)
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            recent = history[-cfg.log_every :]
            log.info(
                "step %d/%d loss %.4f (fit %.4f, consistency %.4f) %.1fs",
                step + 1,
                cfg.steps,
                np.mean([h["loss"] for h in recent]),
                np.mean([h["fit1"] for h in recent]),
                np.mean([h["consistency"] for h in recent]),
                time.perf_counter() - start,
            )
    seconds = time.perf_counter() - start
    ckpt = save_sr(
        out / "checkpoint.pt",
        model.eval(),
        crappify=cfg.crappify.to_dict(),
        step=cfg.steps,
        seconds=seconds,
        final_loss=history[-1]["loss"],
        **({} if cfg.normalize is None else {"normalize": list(cfg.normalize)}),
    )
    write_text_atomic(out / "history.json", json.dumps(history))
    return {"history": history, "checkpoint": ckpt, "seconds": seconds}
