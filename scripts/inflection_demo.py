"""Show the inflection-point picker on a real network whose quality first improves and then degrades.

No real GAN run is at hand on a CPU box, so this builds the same *shape* of checkpoint sequence with a real tiny
generator and real photos:

1. **improve**: train the ``tiny`` generator with pixel L1 (grey -> colour, ImageNet-normalised, DeOldify's input
   pipeline) on photos from ``train256``, saving a checkpoint every ``--every`` steps;
2. **degrade**: keep training, but towards targets that drift the way an over-trained NoGAN GAN phase does: chroma
   amplified and pushed towards orange a little more at every checkpoint (over-saturation, "orange skin", warm casts
   on neutral surfaces).

It then runs :func:`vs_colorize.training.inflection.pick_inflection` on the folder with a held-out set (BSDS500 test photos,
never in ``train256``) and reports where the picker put the pick and the turn relative to the true turn (the last
checkpoint of phase 1). Takes a few CPU minutes with one thread; from the repository root (``PYTHONPATH=.`` is only
needed where the package is not installed)::

    PYTHONPATH=. python scripts/inflection_demo.py --out out/inflection_demo
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vs_colorize.training.archs import build_generator
from vs_colorize.training.checkpoint import save_generator
from vs_colorize.training.inflection import pick_inflection
from vs_colorize.training.metrics import IMAGE_SUFFIXES, square_rgb

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MEAN = torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)
STD = torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)
ORANGE = torch.tensor((0.10, 0.02, -0.12)).view(1, 3, 1, 1)  # a warm cast, roughly luma-neutral

log = logging.getLogger("inflection_demo")


def load_train(folder: Path, count: int, size: int, seed: int) -> torch.Tensor:
    """``count`` random photos of ``folder``, centre-cropped square and resized to ``size``, as RGB [0, 1]."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    files = random.Random(seed).sample(files, count)
    out = []
    for path in files:
        rgb = square_rgb(path, size)
        out.append(torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0).permute(2, 0, 1))
    return torch.stack(out)


def grey_of(rgb: torch.Tensor) -> torch.Tensor:
    """BT.601 luma on three channels (the model's input)."""
    y = 0.299 * rgb[:, 0:1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:3]
    return y.expand(-1, 3, -1, -1)


def overtrained_target(rgb: torch.Tensor, strength: float) -> torch.Tensor:
    """The target an over-trained GAN drifts to: chroma x (1 + 1.5 s) plus an orange cast of s, luma kept."""
    grey = grey_of(rgb)
    return (grey + (1.0 + 1.5 * strength) * (rgb - grey) + strength * ORANGE).clamp(0.0, 1.0)


def train(args: argparse.Namespace, ckpt_dir: Path) -> int:
    """Run both phases; return the step of the true turn (last checkpoint of phase 1)."""
    torch.manual_seed(args.seed)
    photos = load_train(args.data / "train256", args.images, args.size, args.seed)
    gen = build_generator("tiny")
    gen.train()
    opt = torch.optim.Adam(gen.parameters(), lr=args.lr, betas=(0.9, 0.99))
    rng = torch.Generator().manual_seed(args.seed)
    improve_steps: int = args.improve * args.every
    total = improve_steps + args.degrade * args.every
    save_generator(ckpt_dir / "gen_00000.pt", gen, step=0)
    for step in range(1, total + 1):
        # phase 1: cosine decay from lr to lr/20 (a converging pretraining); phase 2: a constant lr/4
        progress = min(step / improve_steps, 1.0)
        lr = (
            args.lr * (0.05 + 0.475 * (1 + math.cos(math.pi * progress)))
            if step <= improve_steps
            else args.lr / 4
        )
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(len(photos), (args.batch,), generator=rng)
        target = photos[idx]
        if torch.rand((), generator=rng) < 0.5:
            target = target.flip(-1)
        if step > improve_steps:
            target = overtrained_target(
                target, args.push * (step - improve_steps) / (args.degrade * args.every)
            )
        pred = gen((grey_of(target) - MEAN) / STD)
        loss = (pred - (target - MEAN) / STD).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % args.every == 0:
            save_generator(ckpt_dir / f"gen_{step:05d}.pt", gen, step=step)
            gen.train()
            phase = "improve" if step <= improve_steps else "degrade"
            log.info("step %d (%s): L1 %.4f, lr %.2g", step, phase, loss.item(), lr)
    return improve_steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("out/inflection_demo"))
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--images", type=int, default=128, help="training photos (default 128)")
    parser.add_argument("--size", type=int, default=64, help="train and evaluation size (default 64)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--every", type=int, default=15, help="steps between checkpoints (default 15)")
    parser.add_argument(
        "--improve", type=int, default=10, help="checkpoints of the improving phase (default 10)"
    )
    parser.add_argument(
        "--degrade", type=int, default=6, help="checkpoints of the degrading phase (default 6)"
    )
    parser.add_argument("--push", type=float, default=1.0, help="final over-training strength (default 1.0)")
    parser.add_argument("--holdout-images", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
    torch.set_num_threads(1)

    ckpt_dir = args.out / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    true_turn = train(args, ckpt_dir)
    t1 = time.perf_counter()
    chosen = pick_inflection(
        ckpt_dir,
        args.data / "bsds500_test_sample50",
        args.out,
        size=args.size,
        max_images=args.holdout_images,
    )
    t2 = time.perf_counter()
    report = json.loads((args.out / "inflection.json").read_text())
    summary = {
        "true_turn_step": true_turn,
        "picked_step": report["picked"]["step"],
        "detected_turn_step": report["turn"]["step"] if report["turn"] else None,
        "turn_signals": report["turn"]["signals"] if report["turn"] else [],
        "picked": str(chosen),
        "train_s": round(t1 - t0, 1),
        "pick_s": round(t2 - t1, 1),
    }
    (args.out / "demo_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("summary: %s", summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
