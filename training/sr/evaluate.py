"""Held-out evaluation: bicubic vs single-frame vs multi-frame SR, with PSNR/SSIM and a flicker score.

Each held-out HR sequence is cropped to a multiple of ``scale · multiple``, crappified once with a fixed seed
(spread off: one illumination, as in one real acquisition) and restored by every method. Per method the table
gives mean PSNR and SSIM against the HR frames and the flicker score (mean |frame t − frame t−1|) next to the
target's own flicker: a stable restorer's ratio is close to 1, noise that changes every frame pushes it up.

A frame that is a bit-identical copy of the one before is not a new acquisition (a real detector never gives two
equal frames) but an artefact of how the sequence was put together: the CellProfiler confocal sequences repeat
every third frame. Such copies are dropped before evaluation (``keep_duplicates=False``, the default) and listed
in ``metrics.json``; on them any per-frame method's error cannot change at all, while a 3-frame model's window
still does, so they would score frame-to-frame stability on pairs where nothing moved.
Outputs ``metrics.json``, ``metrics.md`` and ``figure.png`` (a frame's crops and error maps) in ``out``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vs_colorize.core.fileio import write_text_atomic
from vs_colorize.core.percentile import denormalize, normalize, percentile_range
from vs_colorize.tiling import run_tiled
from vs_colorize.training.checkpoint import meta_of, read_checkpoint, sr_from_record, sr_record

from ..archs.sr import SRNet
from .crappify import SRCrappifyConfig, crappify_stack, without_noise
from .data import load_sequence
from .metrics import error_flicker, flicker, psnr, ssim

Restorer = Callable[[np.ndarray], np.ndarray]

log = logging.getLogger(__name__)


def distinct_frames(movie: np.ndarray) -> list[int]:
    """Indices of the frames of a ``(T, H, W)`` movie that are not bit-identical to the frame before."""
    return [0] + [t for t in range(1, len(movie)) if not np.array_equal(movie[t], movie[t - 1])]


def windows(lr: np.ndarray, n: int) -> np.ndarray:
    """``[T, n, h, w]``: for every t the frames t−n//2 … t+n//2 with the ends replicated."""
    t = np.arange(lr.shape[0])[:, None] + np.arange(n)[None] - n // 2
    return lr[np.clip(t, 0, lr.shape[0] - 1)]


def bicubic(lr: np.ndarray, scale: int) -> np.ndarray:
    """Bicubic (torch, a = −0.75) upscaling of a ``(T, h, w)`` movie, clipped to [0, 1]."""
    with torch.no_grad():
        up = F.interpolate(
            torch.from_numpy(lr)[:, None], scale_factor=scale, mode="bicubic", align_corners=False
        )
    return up[:, 0].clamp(0, 1).numpy()


def restore(
    model: SRNet, lr: np.ndarray, *, tile: int | None = None, percentiles: tuple[float, float] | None = None
) -> np.ndarray:
    """Run ``model`` over a ``(T, h, w)`` LR movie with its temporal window; returns ``(T, s·h, s·w)``.

    ``percentiles``: the model's ``(pmin, pmax)`` normalisation (its checkpoint's ``normalize``): each window is
    normalised with its own percentiles and the output mapped back with them — what the ``superres`` filter
    does. The result is then clipped to [0, 1], the range of the data and of integer outputs.
    """
    cfg = model.config

    def infer(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    stack = windows(lr, cfg.window)
    out = []
    for t in range(lr.shape[0]):
        x = stack[t : t + 1]
        lo, hi = (0.0, 1.0) if percentiles is None else percentile_range(x, *percentiles)
        if percentiles is not None:
            x = normalize(x, lo, hi)
        y = run_tiled(
            infer, x, scale=cfg.scale, multiple=model.multiple, tile=None if tile is None else (tile, tile)
        )
        out.append(y[0, 0] if percentiles is None else np.clip(denormalize(y[0, 0], lo, hi), 0.0, 1.0))
    return np.stack(out)


def percentiles_of(meta: dict[str, Any]) -> tuple[float, float] | None:
    """A checkpoint's ``normalize`` entry as ``(pmin, pmax)``, or None (raw intensities)."""
    raw = meta.get("normalize")
    return None if raw is None else (float(raw[0]), float(raw[1]))


def score(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Mean PSNR/SSIM over frames and the flicker of prediction and target."""
    return {
        "psnr": float(np.mean([psnr(p, t) for p, t in zip(pred, target, strict=True)])),
        "ssim": float(np.mean([ssim(p, t) for p, t in zip(pred, target, strict=True)])),
        "flicker": flicker(pred),
        "flicker_target": flicker(target),
        "flicker_ratio": flicker(pred) / max(flicker(target), 1e-12),
        "error_flicker": error_flicker(pred, target),
    }


def evaluate(
    sequences: Sequence[str | os.PathLike[str]],
    *,
    multi: str | os.PathLike[str],
    single: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str],
    channel: int | None = 1,
    frames: int | None = None,
    seed: int = 1234,
    clean: bool = False,
    keep_duplicates: bool = False,
) -> dict[str, Any]:
    """Evaluate checkpoints on held-out sequences and write the table and the figure.

    Args:
        sequences: held-out TIFF stacks / frame folders / videos.
        multi: the 3-frame model's checkpoint (its crappifier config defines the degradation).
        single: optional single-frame checkpoint (same scale) for comparison.
        out: output directory.
        channel: channel of multi-channel frames (None = luma).
        frames: use only the first ``frames`` frames of each sequence (None = all; >= 3).
        seed: crappifier seed.
        clean: make the LR by plain ``scale``× area downsampling (every noise level of the model's crappifier
            set to 0) instead of the crappifier.
        keep_duplicates: keep frames that repeat the previous frame bit for bit (default: drop them, after
            ``frames``; ``metrics.json`` lists them under ``duplicates``).
    """
    record = sr_record(read_checkpoint(multi, "evaluate"), f"evaluate: {os.fspath(multi)!r}")
    model, meta = sr_from_record(record, f"evaluate: {os.fspath(multi)!r}").eval(), meta_of(record)
    methods: dict[str, SRNet | None] = {"bicubic": None}
    norms: dict[str, tuple[float, float] | None] = {"multi-frame": percentiles_of(meta)}
    if single is not None:
        where = f"evaluate: {os.fspath(single)!r}"
        single_record = sr_record(read_checkpoint(single, "evaluate"), where)
        single_model = sr_from_record(single_record, where).eval()
        norms["single-frame"] = percentiles_of(meta_of(single_record))
        if single_model.config.scale != model.config.scale:
            raise ValueError("evaluate: single and multi checkpoints must share one scale")
        methods["single-frame"] = single_model
    methods["multi-frame"] = model
    crap = dataclasses.replace(SRCrappifyConfig(**meta["crappify"]), spread=0.0)
    if clean:
        crap = without_noise(crap)
    unit = crap.scale * max(m.multiple for m in methods.values() if m is not None)
    rng = np.random.default_rng(seed)
    results: dict[str, Any] = {"sequences": {}, "crappify": crap.to_dict(), "models": {}, "duplicates": {}}
    results["models"]["multi-frame"] = {"checkpoint": str(multi), "model": model.config.to_dict(), **meta}
    if single is not None:
        results["models"]["single-frame"] = {"checkpoint": str(single)}
    example: dict[str, np.ndarray] = {}  # the figure shows the middle frame of the first sequence
    for path in sequences:
        hr = load_sequence(path, channel)
        if frames is not None:
            if frames < 3:
                raise ValueError(f"evaluate: frames must be >= 3, got {frames}")
            hr = hr[:frames]
        hr = hr[:, : hr.shape[1] // unit * unit, : hr.shape[2] // unit * unit]
        if not keep_duplicates:
            keep = distinct_frames(hr)
            dropped = sorted(set(range(len(hr))) - set(keep))
            if dropped:
                log.info(
                    "evaluate: %s: dropped frames %s, bit-identical to the frame before",
                    Path(path).name,
                    dropped,
                )
                hr = hr[keep]
            if len(hr) < 2:
                raise ValueError(f"evaluate: {os.fspath(path)!r} has fewer than 2 distinct frames")
            results["duplicates"][Path(path).name] = dropped
        lr = crappify_stack(hr, crap, rng)
        table = {}
        for name, net in methods.items():
            pred = bicubic(lr, crap.scale) if net is None else restore(net, lr, percentiles=norms[name])
            table[name] = score(pred, hr)
            if path == sequences[0]:
                example[name] = pred[len(pred) // 2]
        if path == sequences[0]:
            example["target"] = hr[len(hr) // 2]
        results["sequences"][Path(path).name] = table
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / "metrics.json", json.dumps(results, indent=2, default=str))
    write_text_atomic(out_dir / "metrics.md", markdown_table(results))
    write_figure(example, out_dir / "figure.png")
    return results


def markdown_table(results: dict[str, Any]) -> str:
    """The per-sequence table of :func:`evaluate` as Markdown."""
    lines = []
    for seq, table in results["sequences"].items():
        lines += [
            f"### {seq}",
            "",
            "| method | PSNR (dB) | SSIM | flicker | target flicker | flicker ratio | error flicker |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, m in table.items():
            lines.append(
                f"| {name} | {m['psnr']:.2f} | {m['ssim']:.4f} | {m['flicker']:.4f} | "
                f"{m['flicker_target']:.4f} | {m['flicker_ratio']:.2f} | {m.get('error_flicker', float('nan')):.5f} |"
            )
        lines.append("")
    return "\n".join(lines)


def write_figure(panels: dict[str, np.ndarray], path: Path) -> None:
    """A PNG: one column per method (top: the frame, bottom: |error| ×4 against the target), labelled."""
    from PIL import Image, ImageDraw

    target = panels["target"]
    h, w = target.shape
    names = list(panels)
    label = 14
    canvas = Image.new("L", (w * len(names), 2 * h + label), 0)
    draw = ImageDraw.Draw(canvas)
    for i, name in enumerate(names):
        img = np.clip(panels[name], 0, 1)
        err = np.clip(np.abs(img - target) * 4, 0, 1)
        canvas.paste(Image.fromarray((img * 255).round().astype(np.uint8)), (i * w, label))
        canvas.paste(Image.fromarray((err * 255).round().astype(np.uint8)), (i * w, label + h))
        draw.text((i * w + 2, 1), name, fill=255)
    canvas.save(path)
