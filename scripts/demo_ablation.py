"""Loss ablation for the demo colorizer (docs/quality.md, "Ablation"), one command:

```sh
python scripts/demo_ablation.py --data ../shared/data --out out/ablation            # ~45 min on 2 cores
```

Every variant is the ``demo`` recipe's first pretraining stage alone (64 px, batch 16, lr 1e-3, one-cycle,
``--steps`` optimiser steps, seed 2026, one torch thread), trained with ``vs-colorize-train pretrain-gen`` and a
few ``--set`` overrides of the loss, exported to ONNX with ``vs-colorize-export onnx`` and scored exactly as
``scripts/quality_report.py`` scores the shipped model (both photo sets at render factor 21, through ONNX Runtime).
The variants run ``--jobs`` at a time, each as its own process. Equal budgets make the comparison fair; the
absolute numbers are those of a short run, below what the full recipe reaches.

Writes ``OUT/ablation.json`` and ``OUT/ablation.md`` (the table); each variant's run directory is
``OUT/<name>/`` and its model ``OUT/<name>.onnx``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import quality_report as qr

log = logging.getLogger("demo_ablation")

BIN = Path(sys.executable).parent
#: name → (what it is, ``--set`` overrides of the ``demo`` recipe's loss)
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "feature": ("DeOldify's feature loss (random VGG), as the shipped v1 model", []),
    "feature+chroma": ("+ CIELAB chroma error ×5", ["loss.chroma_weight=5"]),
    "feature+chroma+colour": (
        "+ chroma ×5 + colourfulness hinge ×2",
        ["loss.chroma_weight=5", "loss.colourfulness_weight=2"],
    ),
    "pixel+chroma+colour": (
        "no VGG terms: pixel L1 + chroma ×5 + colourfulness hinge ×2",
        ["loss.layer_weights=[0,0,0]", "loss.chroma_weight=5", "loss.colourfulness_weight=2"],
    ),
}


def train_and_score(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Train one variant, export it and score it; returns its row."""
    what, overrides = VARIANTS[name]
    run, onnx = args.out / name, args.out / f"{name}.onnx"
    stage = {"size": 64, "batch_size": 16, "lr": [1e-3, 1e-3], "pct_start": 0.2, "max_steps": args.steps}
    sets = ["--set", f"gen.stages=[{json.dumps(stage)}]"]
    for item in overrides:
        sets += ["--set", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    if not (run / "gen_pretrain" / "generator.pt").exists():
        cmd = [str(BIN / "vs-colorize-train"), "-q", "pretrain-gen", "--recipe", "demo"]
        cmd += ["--data", str(args.data / "train256"), "--out", str(run), *sets]
        if run.exists():
            cmd.append("--resume")
        subprocess.run(cmd, check=True, env=env)
    train_s = time.perf_counter() - t0
    if not onnx.exists():
        cmd = [str(BIN / "vs-colorize-export"), "-q", "onnx", "--checkpoint"]
        cmd += [str(run / "gen_pretrain" / "generator.pt"), "--out", str(onnx), "--dynamic", "64", "1024"]
        subprocess.run(cmd, check=True, env=env)
    row: dict[str, Any] = {
        "what": what,
        "overrides": overrides,
        "steps": args.steps,
        "train_s": round(train_s),
    }
    colorizer = qr.ort_colorizer(onnx, 1)
    for set_name in qr.SETS:
        scores = qr.score_set(
            args.data / set_name, {name: colorizer}, 336, args.out / f"samples_{name}_{set_name}.png"
        )
        row[set_name] = scores[name]
    log.info("%s: %s", name, {k: row[k]["chroma_error"] for k in qr.SETS})
    return row


def table(rows: dict[str, dict[str, Any]], grey: dict[str, dict[str, Any]]) -> str:
    """The markdown table: chroma error (and its ratio to grey) and colourfulness (and its share of the truth)."""
    head = "| variant | loss | " + " | ".join(
        f"{s} chroma err (× grey) | colourfulness (% truth)" for s in qr.SETS
    )
    lines = [head + " |", "|---|---|" + "---:|---:|" * len(qr.SETS)]
    for name, row in rows.items():
        cells = []
        for s in qr.SETS:
            m, g = row[s], grey[s]["grey"]
            share = 100 * m["colourfulness"] / m["colourfulness_target"]
            err = m["chroma_error"]
            cells.append(
                f"{err:.2f} ({err / g['chroma_error']:.3f}) | {m['colourfulness']:.1f} ({share:.0f} %)"
            )
        lines.append(f"| {name} | {row['what']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Loss ablation of the demo colorizer (see the module docstring).")
    p.add_argument(
        "--data", type=Path, default=qr.ROOT.parent / "shared" / "data", help="the shared data folder"
    )
    p.add_argument("--out", type=Path, default=qr.ROOT / "out" / "ablation", help="output folder")
    p.add_argument("--steps", type=int, default=300, help="optimiser steps per variant (default 300)")
    p.add_argument("--jobs", type=int, default=2, help="variants trained at once (default 2)")
    p.add_argument("--only", nargs="*", choices=sorted(VARIANTS), help="a subset of the variants")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    names = args.only or list(VARIANTS)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = dict(zip(names, pool.map(lambda n: train_and_score(n, args), names), strict=True))
    grey = {
        s: qr.score_set(args.data / s, {"grey": qr.grey_colorizer}, 336, args.out / f"grey_{s}.png")
        for s in qr.SETS
    }
    report = {"variants": results, "grey": grey}
    (args.out / "ablation.json").write_text(json.dumps(report, indent=1, allow_nan=True))
    (args.out / "ablation.md").write_text(table(results, grey))
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
