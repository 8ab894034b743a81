"""Scoring GAN checkpoints on held-out colour photos: finding them, ordering them by step, measuring each."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vs_colorize.training.checkpoint import CheckpointError, load_generator, read_checkpoint
from vs_colorize.training.metrics import (
    colour_metrics,
    generator_colorizer,
    load_holdout,
    noise_instability,
    swap_luma,
)

log = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
_STEP_KEYS = ("step", "global_step", "iteration", "iter")


@dataclass
class CheckpointEval:
    """Metrics of one checkpoint on the holdout set, plus a few outputs for the sample grid (uint8 HWC)."""

    path: Path
    step: int
    metrics: dict[str, float]
    samples: list[np.ndarray] = field(default_factory=list)


def checkpoint_step(path: Path) -> int | None:
    """Training step stored in a checkpoint (``step``/``global_step``/``iteration``/``iter``, top level or in a
    ``train_state`` dict), else the last number in the file name, else ``None``."""
    try:  # mmap: the weights are not read
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # legacy (non-zip) file, numpy scalars in optimiser states, ...: read it all
        try:
            obj = read_checkpoint(path, "checkpoint_step")
        except (CheckpointError, FileNotFoundError):  # the name decides; load_generator reports the error
            obj = None
    holders = [obj, obj.get("train_state")] if isinstance(obj, dict) else []
    for holder in holders:
        for key in _STEP_KEYS:
            value = holder.get(key) if isinstance(holder, dict) else None
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    numbers = re.findall(r"\d+", path.stem)
    return int(numbers[-1]) if numbers else None


def find_checkpoints(ckpt_dir: str | Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every ``*.pt``/``*.pth``/``*.ckpt`` file in ``ckpt_dir`` (not recursive, links skipped),
    ordered by training step (see :func:`checkpoint_step`); files without any step come first, by name."""
    folder = Path(ckpt_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"find_checkpoints: ckpt_dir {folder} is not a directory")
    files = [
        p for p in folder.iterdir() if p.suffix in CHECKPOINT_SUFFIXES and p.is_file() and not p.is_symlink()
    ]
    if not files:
        raise ValueError(
            f"find_checkpoints: ckpt_dir {folder} holds no checkpoint ({', '.join(CHECKPOINT_SUFFIXES)})"
        )
    return _ordered(files)


def _ordered(paths: Sequence[Path]) -> list[tuple[int, Path]]:
    """``(step, path)`` sorted by step then name; a checkpoint without any step gets -1."""
    found = [(checkpoint_step(p), p) for p in paths]
    return sorted(((-1 if s is None else s, p) for s, p in found), key=lambda sp: (sp[0], sp[1].name))


def evaluate_checkpoints(
    ckpt_paths: Sequence[str | Path],
    holdout_dir: str | Path,
    *,
    size: int = 128,
    max_images: int = 16,
    device: str = "cpu",
    batch_size: int = 8,
    noise_sigma: float = 0.03,
    samples: int = 4,
    seed: int = 0,
) -> list[CheckpointEval]:
    """Score every checkpoint on the same held-out colour photos fed as grey.

    Args:
        ckpt_paths: generator checkpoints (anything :func:`vs_colorize.training.checkpoint.load_generator` reads).
        holdout_dir: folder of colour images (ground truth), never seen in training.
        size: square render size in pixels, a multiple of 16 in 32..1024 (default 128; DeOldify's GAN runs at 192).
        max_images: how many holdout images to use, >= 1 (default 16, first by file name).
        device: torch device string (default ``"cpu"``).
        batch_size: images per forward pass, >= 1 (default 8).
        noise_sigma: grain of the noise-stability test, see :func:`vs_colorize.training.metrics.noise_instability`.
        samples: how many of the first outputs to keep per checkpoint for the sample grid, >= 0 (default 4).
        seed: noise seed (the same grain for every checkpoint).

    Returns:
        One :class:`CheckpointEval` per checkpoint, ordered by training step (read from the checkpoint, else the
        file name). Metrics are :func:`vs_colorize.training.metrics.colour_metrics` of the luma-swapped output (what the
        runtime shows) plus ``noise_instability``.
    """
    if size % 16 or not 32 <= size <= 1024:
        raise ValueError(f"evaluate_checkpoints: size must be a multiple of 16 in 32..1024, got {size}")
    for name, value, low in (
        ("max_images", max_images, 1),
        ("batch_size", batch_size, 1),
        ("samples", samples, 0),
    ):
        if value < low:
            raise ValueError(f"evaluate_checkpoints: {name} must be >= {low}, got {value}")
    if not ckpt_paths:
        raise ValueError("evaluate_checkpoints: ckpt_paths is empty")
    ordered = _ordered([Path(p) for p in ckpt_paths])
    target, grey = load_holdout(holdout_dir, size=size, max_images=max_images)
    dev = torch.device(device)
    results = []
    for step, path in ordered:
        gen = load_generator(path).to(dev).eval()
        colorize = generator_colorizer(gen, device=dev, batch_size=batch_size)
        pred = swap_luma(colorize(grey), grey)
        metrics = colour_metrics(pred, target)
        metrics["noise_instability"] = noise_instability(colorize, grey, sigma=noise_sigma, seed=seed)
        kept = [(p.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8) for p in pred[:samples]]
        results.append(CheckpointEval(path=path, step=step, metrics=metrics, samples=kept))
        log.info("evaluate_checkpoints: step %d %s: %s", step, path.name, metrics)
    return results
