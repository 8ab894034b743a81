"""Automatic inflection-point picker: the GAN checkpoint "just before glitches start".

DeOldify's NoGAN GAN phase saves the generator every N iterations and the user picks, by eye, the last checkpoint
before over-training shows (orange skin, colour casts, flicker). This module does it with numbers:

1. :func:`evaluate_checkpoints` colourises a fixed held-out set of colour photos, fed as grey, with every checkpoint
   and scores the outputs with :mod:`training.metrics`.
2. :func:`pick_index` applies the rule below to the metric curves.
3. :func:`pick_inflection` does both for a folder, writes a report (:mod:`training.report`) and a ``best`` link.

**The rule.** Each *signal* (a metric where lower is better, or the positive part of a signed drift) is smoothed
over checkpoints with a running median of 3 (a single-step outlier cannot move it). For every signal, the running
best ``b_k = min(s_0..s_k)`` is tracked; checkpoint ``k`` is *degraded* on a signal when
``s_k > b_k + max(rel_tol · |b_k|, abs_tol)``. The **turn** is the first checkpoint degraded on some signal for
``patience`` consecutive checkpoints (or up to the last one). Each checkpoint also gets a combined score
``Σ weight · s / ref`` (``ref`` = the signal's median over checkpoints, at least ``abs_tol``, so every term is about 1).
Among the checkpoints strictly before the turn (all of them when quality never turns), the pick is the **latest**
whose score is within ``margin`` (relative, default 3 %) of the lowest score there: scores that close are not told
apart by a small holdout set, and the later checkpoint has had more of the GAN training that is the point of the
phase — DeOldify's "just before glitches start". Signals with ``nan`` values (e.g. no skin in the holdout set) are
left out.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from training.checkpoint import CheckpointError, load_generator, read_checkpoint
from training.metrics import colour_metrics, generator_colorizer, load_holdout, noise_instability, swap_luma

log = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
_STEP_KEYS = ("step", "global_step", "iteration", "iter")


@dataclass(frozen=True, kw_only=True)
class Signal:
    """One degradation signal of the picking rule.

    Attributes:
        name: key in the per-checkpoint metrics dict.
        weight: weight of the signal in the combined score (>= 0).
        rel_tol: allowed rise over the running best, relative to it (e.g. 0.1 = 10 %).
        abs_tol: allowed rise in the metric's own units at least (keeps near-zero bests from triggering on noise).
        over_only: use ``max(value, 0)``: for signed drifts where only the excess is a glitch (more saturated or
            more colourful than the truth); being duller than the truth is what a pixel-loss model does anyway.
    """

    name: str
    weight: float
    rel_tol: float
    abs_tol: float
    over_only: bool = False

    def value(self, metric: float) -> float:
        """The signal's value for a raw metric value."""
        return max(metric, 0.0) if self.over_only else metric


DEFAULT_SIGNALS: tuple[Signal, ...] = (
    Signal(name="chroma_error", weight=1.0, rel_tol=0.10, abs_tol=0.5),
    Signal(name="colourfulness_gap", weight=0.5, rel_tol=0.25, abs_tol=3.0, over_only=True),
    Signal(name="skin_sat_drift", weight=0.5, rel_tol=0.25, abs_tol=2.0, over_only=True),
    Signal(name="skin_hue_drift", weight=0.25, rel_tol=0.25, abs_tol=15.0),
    Signal(name="neutral_cast", weight=0.5, rel_tol=0.25, abs_tol=2.0),
    Signal(name="noise_instability", weight=0.5, rel_tol=0.25, abs_tol=1.0),
)


@dataclass(frozen=True)
class Pick:
    """Outcome of :func:`pick_index`.

    Attributes:
        index: position of the picked checkpoint.
        turn_index: position of the first degraded checkpoint, or ``None`` when quality never turns.
        turn_signals: the signals degraded at the turn.
        scores: combined score per checkpoint (lower is better), from the smoothed signals.
        smoothed: the smoothed signal curves used, by signal name.
    """

    index: int
    turn_index: int | None
    turn_signals: tuple[str, ...]
    scores: list[float]
    smoothed: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class CheckpointEval:
    """Metrics of one checkpoint on the holdout set, plus a few outputs for the sample grid (uint8 HWC)."""

    path: Path
    step: int
    metrics: dict[str, float]
    samples: list[np.ndarray] = field(default_factory=list)


def _median3(values: Sequence[float]) -> list[float]:
    """Running median of 3; the ends use the nearest full window so a spike at either end is removed too."""
    n = len(values)
    if n < 3:
        return list(values)
    out = []
    for i in range(n):
        lo = min(max(i - 1, 0), n - 3)
        out.append(statistics.median(values[lo : lo + 3]))
    return out


def pick_index(
    metrics: Sequence[Mapping[str, float]],
    *,
    signals: Sequence[Signal] = DEFAULT_SIGNALS,
    patience: int = 2,
    margin: float = 0.03,
) -> Pick:
    """Apply the picking rule (module docstring) to per-checkpoint metrics ordered by training step.

    Args:
        metrics: one metrics dict per checkpoint, in training order (at least one).
        signals: the degradation signals with their weights and tolerances; default :data:`DEFAULT_SIGNALS`.
        patience: consecutive degraded checkpoints needed to call a turn (>= 1; default 2).
        margin: relative score difference treated as a tie, in [0, 1) (default 0.03); ties go to the later one.

    Returns:
        The :class:`Pick`.
    """
    if not metrics:
        raise ValueError("pick_index: metrics is empty (no checkpoint to pick from)")
    if patience < 1:
        raise ValueError(f"pick_index: patience must be >= 1, got {patience}")
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"pick_index: margin must be in [0, 1), got {margin}")
    n = len(metrics)
    curves: dict[str, list[float]] = {}
    active: list[Signal] = []
    for sig in signals:
        raw = [float(m.get(sig.name, math.nan)) for m in metrics]
        if any(math.isnan(v) for v in raw):
            log.info("pick_index: signal %s left out (missing or nan)", sig.name)
            continue
        curves[sig.name] = _median3([sig.value(v) for v in raw])
        active.append(sig)

    degraded: list[list[str]] = [[] for _ in range(n)]
    scores = [0.0] * n
    for sig in active:
        curve = curves[sig.name]
        ref = max(statistics.median(curve), sig.abs_tol)
        best = math.inf
        for k, v in enumerate(curve):
            best = min(best, v)
            if v > best + max(sig.rel_tol * abs(best), sig.abs_tol):
                degraded[k].append(sig.name)
            scores[k] += sig.weight * v / ref

    turn = None
    for k in range(n):
        window = degraded[k : k + patience]
        common = set(window[0]).intersection(*window[1:]) if window[0] else set()
        if common:
            turn = k
            break
    candidates = range(n) if turn is None else range(turn)
    lowest = min(scores[k] for k in candidates)
    index = max(k for k in candidates if scores[k] <= lowest + margin * abs(lowest))
    turn_signals = tuple(s.name for s in active if turn is not None and s.name in degraded[turn])
    return Pick(index=index, turn_index=turn, turn_signals=turn_signals, scores=scores, smoothed=curves)


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
        ckpt_paths: generator checkpoints (anything :func:`training.checkpoint.load_generator` reads).
        holdout_dir: folder of colour images (ground truth), never seen in training.
        size: square render size in pixels, a multiple of 16 in 32..1024 (default 128; DeOldify's GAN runs at 192).
        max_images: how many holdout images to use, >= 1 (default 16, first by file name).
        device: torch device string (default ``"cpu"``).
        batch_size: images per forward pass, >= 1 (default 8).
        noise_sigma: grain of the noise-stability test, see :func:`training.metrics.noise_instability`.
        samples: how many of the first outputs to keep per checkpoint for the sample grid, >= 0 (default 4).
        seed: noise seed (the same grain for every checkpoint).

    Returns:
        One :class:`CheckpointEval` per checkpoint, ordered by training step (read from the checkpoint, else the
        file name). Metrics are :func:`training.metrics.colour_metrics` of the luma-swapped output (what the
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


def pick_inflection(
    ckpt_dir: str | Path,
    holdout_dir: str | Path,
    out_dir: str | Path,
    *,
    size: int = 128,
    max_images: int = 16,
    device: str = "cpu",
    batch_size: int = 8,
    noise_sigma: float = 0.03,
    samples: int = 4,
    seed: int = 0,
    patience: int = 2,
    margin: float = 0.03,
    signals: Sequence[Signal] = DEFAULT_SIGNALS,
) -> Path:
    """Pick the GAN checkpoint just before quality turns, write the report and a ``best`` link.

    Args:
        ckpt_dir: folder of generator checkpoints (``*.pt``/``*.pth``/``*.ckpt``; the ``best`` link is ignored).
        holdout_dir: folder of held-out colour images (ground truth).
        out_dir: report folder: ``inflection.json``, ``inflection.md``, ``inflection.png``, ``samples.png`` and
            ``best`` (a symlink to the pick; a copy where symlinks fail). May equal ``ckpt_dir``.
        size, max_images, device, batch_size, noise_sigma, samples, seed: see :func:`evaluate_checkpoints`.
        patience, margin: see :func:`pick_index` (defaults 2 and 0.03).
        signals: the rule's signals and tolerances (default :data:`DEFAULT_SIGNALS`).

    Returns:
        The path of the picked checkpoint (the original file, not the link).
    """
    from training.report import link_best, write_report

    ordered = find_checkpoints(ckpt_dir)
    evals = evaluate_checkpoints(
        [p for _, p in ordered],
        holdout_dir,
        size=size,
        max_images=max_images,
        device=device,
        batch_size=batch_size,
        noise_sigma=noise_sigma,
        samples=samples,
        seed=seed,
    )
    pick = pick_index([e.metrics for e in evals], signals=signals, patience=patience, margin=margin)
    chosen = evals[pick.index]
    out = Path(out_dir)
    target, grey = load_holdout(holdout_dir, size=size, max_images=max(1, min(samples, max_images)))
    settings = {"holdout_dir": str(holdout_dir), "size": size, "max_images": max_images, "device": device}
    settings |= {"noise_sigma": noise_sigma, "seed": seed}
    write_report(
        out,
        evals,
        pick,
        signals=signals,
        rule={"patience": patience, "margin": margin},
        grey=grey,
        target=target,
        settings=settings,
    )
    link_best(out, chosen.path)
    turn = "never" if pick.turn_index is None else f"at step {evals[pick.turn_index].step}"
    log.info("pick_inflection: picked %s (step %d); quality turned %s", chosen.path, chosen.step, turn)
    return chosen.path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``pick`` subcommand's arguments (``--ckpts``, ``--holdout``, ``--out`` and the tuning knobs)."""
    parser.add_argument("--ckpts", required=True, type=Path, help="folder of GAN-phase generator checkpoints")
    parser.add_argument("--holdout", required=True, type=Path, help="folder of held-out colour images")
    parser.add_argument(
        "--out", required=True, type=Path, help="report folder (gets a 'best' link to the pick)"
    )
    parser.add_argument("--size", type=int, default=128, help="render size, multiple of 16 (default 128)")
    parser.add_argument("--max-images", type=int, default=16, help="holdout images used (default 16)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default 8)")
    parser.add_argument(
        "--noise-sigma", type=float, default=0.03, help="grain of the stability test (default 0.03)"
    )
    parser.add_argument(
        "--patience", type=int, default=2, help="degraded checkpoints that make a turn (default 2)"
    )
    parser.add_argument(
        "--margin", type=float, default=0.03, help="score difference that is a tie (default 0.03)"
    )
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")


def run(args: argparse.Namespace) -> int:
    """Run the ``pick`` subcommand; prints the picked checkpoint's path on stdout and returns the exit status."""
    try:
        chosen = pick_inflection(
            args.ckpts,
            args.holdout,
            args.out,
            size=args.size,
            max_images=args.max_images,
            device=args.device,
            batch_size=args.batch_size,
            noise_sigma=args.noise_sigma,
            patience=args.patience,
            margin=args.margin,
            seed=args.seed,
        )
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    print(chosen)
    return 0
