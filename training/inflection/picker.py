"""The picker: evaluate a folder of GAN checkpoints, apply the rule, write the report and a ``best`` link;
and the ``vs-colorize-train pick`` subcommand."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from vs_colorize.training.metrics import load_holdout

from .evaluate import evaluate_checkpoints, find_checkpoints
from .report import link_best, write_report
from .rule import COLOUR_PREFERENCE, DEFAULT_SIGNALS, Signal, pick_index

log = logging.getLogger(__name__)


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
            signals=(*DEFAULT_SIGNALS, COLOUR_PREFERENCE) if args.prefer_colour else DEFAULT_SIGNALS,
        )
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    print(chosen)
    return 0
