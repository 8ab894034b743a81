"""Report of an inflection-point pick: JSON, a Markdown table, metric curves (PNG) and a sample grid (PNG).

:func:`write_report` writes into one folder:

* ``inflection.json`` — settings, the rule (signals, tolerances, patience), the pick, the turn, every checkpoint's
  metrics and combined score (``nan`` written as ``null``);
* ``inflection.md`` — the same as a table, the pick and the turn marked;
* ``inflection.png`` — one panel per signal (raw values as dots, the smoothed curve as a line) plus the combined
  score, the pick as a green line and the turn as a red dashed line (matplotlib, Agg backend);
* ``samples.png`` — rows of holdout images: grey input, ground truth, then the outputs of the first checkpoint, the
  pick, the turn and the last checkpoint.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vs_colorize.core.fileio import write_text_atomic

from .evaluate import CheckpointEval
from .rule import Pick, Signal

__all__ = ["link_best", "plot_curves", "sample_grid", "write_report"]

log = logging.getLogger(__name__)

_TABLE_KEYS = (
    "chroma_error",
    "colourfulness",
    "colourfulness_gap",
    "colourfulness_shortfall",
    "saturation",
    "skin_sat_drift",
    "skin_hue_drift",
    "neutral_cast",
    "noise_instability",
)


def _clean(value: Any) -> Any:
    """JSON-safe copy: nan/inf become None, paths become strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _x_values(evals: Sequence[CheckpointEval]) -> tuple[list[int], str]:
    steps = [e.step for e in evals]
    if min(steps) >= 0 and len(set(steps)) == len(steps):
        return steps, "training step"
    return list(range(len(evals))), "checkpoint index"


def _grid_columns(evals: Sequence[CheckpointEval], pick: Pick) -> list[tuple[int, str]]:
    """Checkpoints shown in the sample grid: first, pick, turn, last (unique, in training order)."""
    wanted = {0: "first", len(evals) - 1: "last"}
    if pick.turn_index is not None:
        wanted[pick.turn_index] = "turn"
    wanted[pick.index] = "pick"
    return sorted(wanted.items())


def plot_curves(path: Path, evals: Sequence[CheckpointEval], pick: Pick, signals: Sequence[Signal]) -> None:
    """Write the metric-curve figure (one panel per used signal plus the combined score) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, xlabel = _x_values(evals)
    used = [s for s in signals if s.name in pick.smoothed]
    panels = len(used) + 1
    cols = min(panels, 4)
    rows = math.ceil(panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 3.0 * rows), squeeze=False)
    flat = list(axes.flat)
    for ax, sig in zip(flat, used, strict=False):
        raw = [e.metrics[sig.name] for e in evals]
        ax.plot(x, [sig.value(v) for v in raw], "o", ms=3, alpha=0.5, label="raw")
        ax.plot(x, pick.smoothed[sig.name], "-", label="median of 3")
        ax.set_title(f"max({sig.name}, 0)" if sig.over_only else sig.name, fontsize=10)
    score_ax = flat[len(used)]
    score_ax.plot(x, pick.scores, "-o", ms=3, color="black")
    score_ax.set_title("combined score (lower is better)", fontsize=10)
    for ax in flat[:panels]:
        ax.axvline(x[pick.index], color="green", lw=1.5, label="pick")
        if pick.turn_index is not None:
            ax.axvline(x[pick.turn_index], color="red", ls="--", lw=1.2, label="turn")
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in flat[panels:]:
        ax.axis("off")
    flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def sample_grid(
    path: Path, grey: torch.Tensor, target: torch.Tensor, evals: Sequence[CheckpointEval], pick: Pick
) -> None:
    """Write a PNG grid: one row per sample image; columns grey input, ground truth, chosen checkpoints' outputs."""
    from PIL import Image, ImageDraw

    columns = _grid_columns(evals, pick)
    rows = min(grey.shape[0], *(len(evals[i].samples) for i, _ in columns))
    if rows == 0:
        raise ValueError("sample_grid: no sample outputs were kept (evaluate_checkpoints(samples=0)?)")
    size = grey.shape[-1]

    def to_u8(t: torch.Tensor) -> np.ndarray:
        return (t.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)

    header = 14
    labels = ["grey", "truth"] + [f"{tag} {evals[i].step}" for i, tag in columns]
    canvas = Image.new("RGB", (size * len(labels), header + size * rows), "white")
    draw = ImageDraw.Draw(canvas)
    for c, label in enumerate(labels):
        draw.text((c * size + 3, 1), label, fill="black")
    for r in range(rows):
        tiles = [to_u8(grey[r]), to_u8(target[r])] + [evals[i].samples[r] for i, _ in columns]
        for c, tile in enumerate(tiles):
            canvas.paste(Image.fromarray(tile), (c * size, header + r * size))
    canvas.save(path)


def _markdown(evals: Sequence[CheckpointEval], pick: Pick, settings: Mapping[str, Any]) -> str:
    picked = evals[pick.index]
    lines = ["# Inflection-point pick", ""]
    lines.append(
        f"Picked **{picked.path.name}** (step {picked.step}, combined score {pick.scores[pick.index]:.3f})."
    )
    if pick.turn_index is None:
        lines.append("Quality never turned: the best checkpoint by combined score was picked.")
    else:
        turn = evals[pick.turn_index]
        lines.append(
            f"Quality turned at step {turn.step} ({turn.path.name}): {', '.join(pick.turn_signals)} degraded."
        )
    lines += ["", "Settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()), ""]
    lines.append("| step | checkpoint | " + " | ".join(_TABLE_KEYS) + " | score | |")
    lines.append("|---:|---|" + "---:|" * len(_TABLE_KEYS) + "---:|---|")
    for i, e in enumerate(evals):
        mark = " ".join(t for t, on in (("**pick**", i == pick.index), ("turn", i == pick.turn_index)) if on)
        cells = [f"{e.metrics.get(k, math.nan):.3f}" for k in _TABLE_KEYS]
        lines.append(
            f"| {e.step} | {e.path.name} | " + " | ".join(cells) + f" | {pick.scores[i]:.3f} | {mark} |"
        )
    lines += [
        "",
        "Errors and drifts: lower is better (CIELAB units; hue drift in degrees; skin saturation drift and "
        "colourfulness gap are signed, 0 is ideal). See docs/inflection.md for the formulas and the rule.",
        "",
    ]
    return "\n".join(lines)


def write_report(
    out_dir: Path,
    evals: Sequence[CheckpointEval],
    pick: Pick,
    *,
    signals: Sequence[Signal],
    rule: Mapping[str, Any],
    grey: torch.Tensor,
    target: torch.Tensor,
    settings: Mapping[str, Any],
) -> dict[str, Path]:
    """Write the four report files into ``out_dir`` (created if needed) and return their paths by kind.

    Args:
        out_dir: output folder.
        evals: per-checkpoint results in training order (:func:`vs_colorize.training.inflection.evaluate_checkpoints`).
        pick: the outcome of :func:`vs_colorize.training.inflection.pick_index` on ``evals``.
        signals: the signals the pick used (recorded in the JSON and drawn in the plot).
        rule: the other settings of the rule (patience, margin), recorded.
        grey: grey holdout inputs ``[N, 3, H, W]`` in [0, 1] for the sample grid (at least the first sample rows).
        target: their ground truth, same shape.
        settings: evaluation settings to record (size, images, device, ...).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "inflection.json",
        "markdown": out_dir / "inflection.md",
        "plot": out_dir / "inflection.png",
        "samples": out_dir / "samples.png",
    }
    turn = None
    if pick.turn_index is not None:
        t = evals[pick.turn_index]
        turn = {"index": pick.turn_index, "step": t.step, "path": t.path, "signals": list(pick.turn_signals)}
    doc = {
        "picked": {
            "index": pick.index,
            "step": evals[pick.index].step,
            "path": evals[pick.index].path.resolve(),
        },
        "turn": turn,
        "rule": {
            "smoothing": "running median of 3",
            **rule,
            "signals": [asdict(s) for s in signals],
        },
        "settings": dict(settings),
        "checkpoints": [
            {"path": e.path, "step": e.step, "score": pick.scores[i], "metrics": e.metrics}
            for i, e in enumerate(evals)
        ],
    }
    write_text_atomic(paths["json"], json.dumps(_clean(doc), indent=2) + "\n")
    write_text_atomic(paths["markdown"], _markdown(evals, pick, settings))
    plot_curves(paths["plot"], evals, pick, signals)
    sample_grid(paths["samples"], grey, target, evals, pick)
    return paths


def link_best(out_dir: Path, target: Path) -> Path:
    """Point ``out_dir/best`` at ``target``: an absolute symlink, or a copy where links are not possible.

    The new link (or copy) is made under a temporary name and renamed over the old one, so ``best`` always
    names a whole checkpoint.
    """
    link = out_dir / "best"
    tmp = out_dir / f".best.{os.getpid()}.part"
    tmp.unlink(missing_ok=True)
    try:
        tmp.symlink_to(target.resolve())
    except OSError as exc:
        log.warning("link_best: cannot symlink %s (%s); copying the checkpoint instead", link, exc)
        shutil.copy2(target, tmp)
    os.replace(tmp, link)
    return link
