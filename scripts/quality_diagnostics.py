"""Why a colorizer's chroma error is what it is: a chroma-gain sweep and the sampling spread (docs/quality.md).

```sh
python scripts/quality_diagnostics.py --data ../shared/data --out out/quality-diag \\
    --extra 'imagenet-val=runs/holdout_val2/imagenet_*'
```

Each photo goes through the quality report's photo path once (``quality_report.render``: render size
``16·render_factor``, the original luma put back). Then, per photo:

* **gain sweep**: the prediction's chroma scaled by ``g`` around its own luma (``y + g·(rgb − y)``, luma
  unchanged), scored with ``colour_metrics`` for every ``--gains`` value. ``g = 0`` is the grey baseline,
  ``g = 1`` the model as it ships. If no gain brings the error under a target, no amount of "more" or "less"
  colour will: the hues themselves are wrong.
* **sampling spread**: a bootstrap over the photos (``--bootstrap`` resamples, fixed seed) of the error ratio
  ``mean(model) / mean(grey)`` at ``g = 1``, with a 95 % interval, and how many photos the model beats grey on.

``--extra NAME=GLOB`` adds a set of any photos (e.g. a run's held-out validation split). Writes
``OUT/diagnostics.json`` and ``OUT/diagnostics.md``; logs go to stderr.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_report import DEFAULT_MODEL, IMAGE_SUFFIXES, SETS, ort_colorizer, render

from vs_colorize.training.metrics import colour_metrics, luma

log = logging.getLogger("quality_diagnostics")

GAINS = (0.0, 0.5, 0.7, 0.8, 0.9, 1.0, 1.2)


def with_gain(pred: np.ndarray, gain: float) -> torch.Tensor:
    """``[3,H,W]`` RGB in [0,1] with its chroma scaled by ``gain`` around its own BT.601 luma."""
    rgb = torch.from_numpy(pred)[None]
    y = luma(rgb)
    return (y + gain * (rgb - y)).clamp(0.0, 1.0)


def score_photos(
    files: list[Path], colorize: Any, size: int, gains: tuple[float, ...]
) -> dict[str, np.ndarray]:
    """Per photo and gain: chroma error and colourfulness; per photo: the truth's colourfulness."""
    err = np.zeros((len(files), len(gains)))
    colour = np.zeros_like(err)
    truth = np.zeros(len(files))
    for i, path in enumerate(files):
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
        pred, target = render(colorize, rgb, size)
        for j, g in enumerate(gains):
            m = colour_metrics(with_gain(pred, g), target)
            err[i, j], colour[i, j] = m["chroma_error"], m["colourfulness"]
            truth[i] = m["colourfulness_target"]
    return {"chroma_error": err, "colourfulness": colour, "colourfulness_target": truth}


def bootstrap_ratio(model: np.ndarray, grey: np.ndarray, n: int, seed: int) -> tuple[float, float]:
    """95 % bootstrap interval of ``mean(model) / mean(grey)`` over resampled photos."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(model), size=(n, len(model)))
    ratios = model[idx].mean(axis=1) / grey[idx].mean(axis=1)
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    return float(lo), float(hi)


def summarise(
    scores: dict[str, np.ndarray], gains: tuple[float, ...], n_boot: int, seed: int
) -> dict[str, Any]:
    err, colour, truth = scores["chroma_error"], scores["colourfulness"], scores["colourfulness_target"]
    if 0.0 not in gains or 1.0 not in gains:
        raise ValueError("summarise: gains must include 0 (grey) and 1 (the model)")
    grey, model = err[:, gains.index(0.0)], err[:, gains.index(1.0)]
    rows = [
        {
            "gain": g,
            "chroma_error": float(err[:, j].mean()),
            "x_grey": float(err[:, j].mean() / grey.mean()),
            "colourfulness_pct": float(100 * colour[:, j].mean() / truth.mean()),
        }
        for j, g in enumerate(gains)
    ]
    lo, hi = bootstrap_ratio(model, grey, n_boot, seed)
    return {
        "photos": len(grey),
        "gains": rows,
        "ratio": float(model.mean() / grey.mean()),
        "ratio_95": [lo, hi],
        "beats_grey": int((model < grey).sum()),
        "best_gain": rows[int(np.argmin([r["x_grey"] for r in rows]))]["gain"],
    }


def tables(report: dict[str, Any]) -> str:
    lines = []
    for name, s in report["sets"].items():
        lines += [
            f"### {name} ({s['photos']} photos)",
            "",
            f"× grey at gain 1: {s['ratio']:.3f} (95 % bootstrap interval {s['ratio_95'][0]:.3f}–"
            f"{s['ratio_95'][1]:.3f}); the model beats grey on {s['beats_grey']} of {s['photos']} photos.",
            "",
            "| chroma gain | chroma error | × grey | colourfulness (% truth) |",
            "|---:|---:|---:|---:|",
            *(
                f"| {r['gain']:.1f} | {r['chroma_error']:.2f} | {r['x_grey']:.3f} | {r['colourfulness_pct']:.0f} % |"
                for r in s["gains"]
            ),
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Gain sweep and sampling spread of a colorizer (module docstring)."
    )
    root = Path(__file__).resolve().parent.parent
    p.add_argument(
        "--data", type=Path, default=root.parent / "shared" / "data", help="the shared data folder"
    )
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="an ONNX colorizer (default: the demo)")
    p.add_argument("--out", type=Path, default=root / "out" / "quality-diag", help="output folder")
    p.add_argument("--extra", nargs="*", default=[], metavar="NAME=GLOB", help="more photo sets")
    p.add_argument(
        "--gains", type=float, nargs="+", default=list(GAINS), help="chroma gains (0 and 1 included)"
    )
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--render-factor", type=int, default=21, help="render size 16·N (default 21 = 336 px)")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads (default 1)")
    args = p.parse_args(argv)
    gains = tuple(sorted(set(args.gains) | {0.0, 1.0}))
    sets: dict[str, list[Path]] = {
        name: sorted(f for f in (args.data / name).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        for name in SETS
    }
    for item in args.extra:
        name, sep, pattern = item.partition("=")
        files = sorted(Path(f) for f in glob.glob(pattern) if Path(f).suffix.lower() in IMAGE_SUFFIXES)
        if not sep or not name or not files or name in sets:
            p.error(f"--extra: expected NAME=GLOB with a new name matching images, got {item!r}")
        sets[name] = files
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    colorize = ort_colorizer(args.model, args.threads)
    report: dict[str, Any] = {"model": str(args.model), "render_factor": args.render_factor, "sets": {}}
    for name, files in sets.items():
        scores = score_photos(files, colorize, 16 * args.render_factor, gains)
        report["sets"][name] = summarise(scores, gains, args.bootstrap, args.seed)
        log.info("%s: %s", name, {k: v for k, v in report["sets"][name].items() if k != "gains"})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "diagnostics.json").write_text(json.dumps(report, indent=1))
    (args.out / "diagnostics.md").write_text(tables(report))
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
