"""Self-supervised pretraining of a generator's encoder on grey training photos (issue 17's ImageNet stand-in).

```sh
OMP_NUM_THREADS=2 python scripts/ssl_encoder.py --data ../shared/data/train256 --out runs/ssl/encoder.pth \
    --minutes 30                                                   # docs/quality.md, "Ablation: ... encoder"
vs-colorize-train pretrain-gen --recipe demo --data ../shared/data/train256 --out runs/demo-ssl \
    --set gen.pretrained_encoder=runs/ssl/encoder.pth
```

No ImageNet weights can be fetched offline, so the demo generator's ResNet starts from random weights. This
trains that same encoder (the ``--arch`` preset with ``--set``-style ``--arch-overrides``) by contrastive instance
discrimination (SimCLR's NT-Xent loss): two random views of one photo must map close together and away from
the batch's other photos. The views are what the generator sees, grey (Pillow luma replicated to three channels,
ImageNet-normalised), so colour cannot be a shortcut: random resized crop (20–100 % of the area), left-right
flip, brightness/contrast jitter and blur. Only the photos of the recipe's *training* split are used (the same
path-hash split, ``--val-pct``), so the generator's validation photos stay unseen.

Writes ``--out`` as a torchvision-layout ResNet state dict (``conv1.*``, ``bn1.*``, ``layer1-4.*``; what
``gen.pretrained_encoder`` takes) and ``--out`` with ``.json`` added: the settings, steps, wall time, and the
loss and view-matching accuracy (the fraction of views whose nearest other view in the batch is their twin)
over the first and last 50 steps.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vs_colorize.core import fileio
from vs_colorize.training.archs.config import GeneratorConfig
from vs_colorize.training.archs.resnet import ResNetEncoder, encoder_to_torchvision_keys
from vs_colorize.training.config import GenPretrainConfig
from vs_colorize.training.crappify import luma_u8
from vs_colorize.training.data import load_rgb, normalise, scan_images

log = logging.getLogger("ssl_encoder")


class Views:
    """Grey augmented views of photos held in memory (the training split of ``train256`` is ~240 MB)."""

    def __init__(self, paths: list[str], size: int, seed: int) -> None:
        self.grey = [Image.fromarray(luma_u8(np.asarray(load_rgb(p)))) for p in paths]
        self.size = size
        self.rng = np.random.default_rng(seed)

    def view(self, im: Image.Image) -> Tensor:
        rng = self.rng
        w, h = im.size
        for _ in range(10):  # torchvision's RandomResizedCrop sampling, scale 0.2-1, ratio 3/4-4/3
            area = w * h * rng.uniform(0.2, 1.0)
            ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
            cw, ch = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
            if 0 < cw <= w and 0 < ch <= h:
                break
        else:
            cw = ch = min(w, h)
        left, top = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        box = (int(left), int(top), int(left) + cw, int(top) + ch)
        out = im.resize((self.size, self.size), Image.Resampling.BILINEAR, box=box)
        if rng.random() < 0.5:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if rng.random() < 0.5:
            out = out.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.1, 1.5))))
        arr = np.asarray(out, dtype=np.float32) / 255.0
        if rng.random() < 0.8:  # brightness and contrast, ±40 %
            mean = float(arr.mean())
            arr = (arr - mean) * rng.uniform(0.6, 1.4) + mean * rng.uniform(0.6, 1.4)
        arr = np.clip(arr, 0.0, 1.0)
        return normalise(np.repeat(arr[..., None], 3, axis=2))

    def batch(self, n: int) -> Tensor:
        """``2n`` views: rows ``i`` and ``i + n`` are two views of the same photo."""
        idx = self.rng.choice(len(self.grey), size=n, replace=False)
        first = [self.view(self.grey[i]) for i in idx]
        second = [self.view(self.grey[i]) for i in idx]
        return torch.stack(first + second)


class Contrastive(nn.Module):
    """The encoder, global average pooling of its last stage, and SimCLR's two-layer projection head."""

    def __init__(self, cfg: GeneratorConfig, dim: int = 128) -> None:
        super().__init__()
        self.encoder = ResNetEncoder(cfg.encoder, cfg.encoder_width, cfg.n_in)
        c = self.encoder.out_channels
        self.head = nn.Sequential(nn.Linear(c, c), nn.ReLU(inplace=True), nn.Linear(c, dim))

    def forward(self, x: Tensor) -> Tensor:
        features = self.encoder(x)[-1].mean(dim=(2, 3))
        return F.normalize(self.head(features), dim=1)


def nt_xent(z: Tensor, temperature: float) -> tuple[Tensor, float]:
    """SimCLR's loss for ``2n`` unit embeddings (twins ``i`` and ``i + n``), and the fraction of rows whose most
    similar other row is their twin."""
    n2 = z.shape[0]
    n = n2 // 2
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    twin = torch.cat([torch.arange(n, n2), torch.arange(0, n)]).to(z.device)
    loss = F.cross_entropy(sim, twin)
    accuracy = float((sim.argmax(dim=1) == twin).float().mean())
    return loss, accuracy


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, nargs="+", help="photo folders (the recipe's --data)")
    ap.add_argument("--out", required=True, type=Path, help="the encoder state dict to write (.pth)")
    ap.add_argument("--arch", default="tiny", help="generator preset whose encoder is trained (default tiny)")
    ap.add_argument(
        "--arch-overrides", default="{}", help="JSON, as gen.arch_overrides (e.g. '{\"encoder_width\": 24}')"
    )
    ap.add_argument("--val-pct", type=float, default=0.1, help="the recipe's data.val_pct (left out)")
    ap.add_argument("--size", type=int, default=64, help="view size in px (default 64)")
    ap.add_argument("--batch", type=int, default=128, help="photos per step, two views each (default 128)")
    ap.add_argument("--steps", type=int, default=0, help="optimiser steps (0: until --minutes)")
    ap.add_argument("--minutes", type=float, default=0.0, help="wall-clock budget (0: --steps only)")
    ap.add_argument(
        "--lr", type=float, default=2e-3, help="Adam peak learning rate, cosine decay (default 2e-3)"
    )
    ap.add_argument("--temperature", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    args = ap.parse_args(argv)
    if args.steps <= 0 and args.minutes <= 0:
        ap.error("ssl_encoder: give --steps or --minutes")
    if args.out.exists() and not args.overwrite:
        ap.error(f"ssl_encoder: --out {os.fspath(args.out)!r} exists (pass --overwrite to replace it)")
    if args.batch < 2:
        ap.error(f"ssl_encoder: --batch must be >= 2, got {args.batch}")
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    args = parse_args(argv)
    try:
        overrides = json.loads(args.arch_overrides)
        cfg = GenPretrainConfig(arch=args.arch, arch_overrides=overrides).architecture()
    except (ValueError, TypeError) as exc:
        print(f"ssl_encoder: --arch/--arch-overrides: {exc}", file=sys.stderr)
        return 2
    torch.manual_seed(args.seed)
    scan = scan_images(args.data, args.val_pct)
    if len(scan.train) < args.batch:
        print(
            f"ssl_encoder: --batch {args.batch} exceeds the {len(scan.train)} training photos",
            file=sys.stderr,
        )
        return 2
    views = Views(scan.train, args.size, args.seed)
    model = Contrastive(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=1e-6)
    # the schedule needs a length: with a time budget, estimate it from the first 20 steps
    total = args.steps or 10**9
    history: list[tuple[float, float]] = []
    t0 = time.monotonic()
    step = 0
    while step < total:
        if args.minutes and time.monotonic() - t0 > args.minutes * 60:
            break
        lr = args.lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * min(1.0, step / total)))
        for group in opt.param_groups:
            group["lr"] = lr
        loss, accuracy = nt_xent(model(views.batch(args.batch)), args.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append((float(loss.detach()), accuracy))
        step += 1
        if step == 20 and args.minutes and not args.steps:
            per_step = (time.monotonic() - t0) / 20
            total = max(21, int(args.minutes * 60 / per_step))
            log.info("ssl_encoder: %.2f s a step: %d steps in %.0f min", per_step, total, args.minutes)
        if step % 50 == 0:
            recent = np.array(history[-50:])
            log.info(
                "ssl_encoder: step %d/%d loss %.3f twin accuracy %.3f lr %.2e",
                step,
                total,
                *recent.mean(axis=0),
                lr,
            )
    wall = time.monotonic() - t0
    state = encoder_to_torchvision_keys(model.encoder.state_dict())
    with fileio.atomic_output(args.out, overwrite=args.overwrite) as tmp:
        torch.save(state, tmp)
    head, tail = np.array(history[:50]).mean(axis=0), np.array(history[-50:]).mean(axis=0)
    report: dict[str, Any] = {
        "arch": cfg.name,
        "encoder": cfg.encoder,
        "encoder_width": cfg.encoder_width,
        "photos": len(scan.train),
        "size": args.size,
        "batch": args.batch,
        "steps": step,
        "lr": args.lr,
        "temperature": args.temperature,
        "seed": args.seed,
        "wall_s": round(wall, 1),
        "first50": {"loss": round(float(head[0]), 4), "twin_accuracy": round(float(head[1]), 4)},
        "last50": {"loss": round(float(tail[0]), 4), "twin_accuracy": round(float(tail[1]), 4)},
    }
    fileio.write_text_atomic(args.out.with_name(args.out.name + ".json"), json.dumps(report, indent=1) + "\n")
    log.info("ssl_encoder: %d steps in %.0f s -> %s", step, wall, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
