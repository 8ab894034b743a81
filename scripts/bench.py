"""Benchmarks of vs-colorize, side by side in one run (docs/benchmarks.md keeps the latest results):

```sh
python scripts/bench.py                 # everything this machine can run (CPU: ~15 min on 2 cores)
python scripts/bench.py --quick         # a smoke run: tiny model, small sizes, seconds
python scripts/bench.py --sections model,pipeline --models video --render-factors 21
```

Sections (``scripts/benchmarks/``): ``model`` — the colorize generators alone per backend and render factor;
``pipeline`` — the colorize filter at 720p/1080p into a null sink and its overhead over the model alone;
``batch`` — batch sizes side by side (CPU: the demo model, batch 1/2/4; GPU: fp16 presets, batch 1–16);
``superres`` — the superres filter on a 1024² GRAY16 stack; ``train`` — generator training steps, fp32 vs
mixed precision; ``farm`` — one film by one process vs ``farm run`` with 1 and N local Ray workers, and the
speed of ``farm concat`` (docs/farm.md). Variants that cannot run here (no GPU, no TensorRT …) are listed with the reason.

Writes ``OUT/bench-<UTC time>.json`` (machine, peaks, settings, every record), ``.md`` (the tables) and ``.png``
(the plot); exported model files are cached under ``<vs-colorize cache>/bench``. Progress goes to stderr; the
short tables are printed last on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import machine, report
from benchmarks.common import MODELS, RENDER_FACTORS, Settings

from vs_colorize.core.cache import cache_dir
from vs_colorize.core.fileio import write_text_atomic

log = logging.getLogger("bench")

SECTIONS = {
    "model": "model_only",
    "pipeline": "pipeline",
    "batch": "batching",
    "superres": "superres",
    "train": "train_step",
    "farm": "farm",
}


def _csv(kind: Callable[[str], Any]) -> Callable[[str], tuple[Any, ...]]:
    return lambda text: tuple(kind(v) for v in text.split(",") if v)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--sections", type=_csv(str), default=tuple(SECTIONS), help="comma list (default: all)")
    p.add_argument("--models", type=_csv(str), help=f"colorize presets (default {','.join(MODELS)})")
    p.add_argument("--render-factors", type=_csv(int), help=f"default {','.join(map(str, RENDER_FACTORS))}")
    p.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="CPU threads (default: all cores)"
    )
    p.add_argument("--iters", type=int, default=5, help="timed calls per variant (default 5)")
    p.add_argument(
        "--budget", type=float, default=20.0, help="seconds of timing per variant at most (default 20)"
    )
    p.add_argument("--frames", type=int, default=24, help="frames per filter run at most (default 24)")
    p.add_argument(
        "--compile", action="store_true", help="also time torch.compile on the GPU (minutes per model)"
    )
    p.add_argument(
        "--quick", action="store_true", help="smoke run: tiny model, render factor 12, few iterations"
    )
    p.add_argument("--out", type=Path, default=Path("out/bench"), help="results folder (default out/bench)")
    p.add_argument("--work", type=Path, default=None, help="exported-model cache (default <cache>/bench)")
    args = p.parse_args(argv)
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        p.error(f"--sections: unknown {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    if args.threads < 1 or args.iters < 1 or args.frames < 1 or args.budget <= 0:
        p.error("--threads, --iters and --frames must be >= 1 and --budget > 0")
    return args


def settings_from(args: argparse.Namespace) -> Settings:
    quick = dict(models=("tiny",), render_factors=(12,), pipeline_models=("tiny",), pipeline_rf=12, warmup=1)
    chosen: dict[str, Any] = dict(quick) if args.quick else {}
    if args.models:
        chosen["models"] = chosen["pipeline_models"] = args.models
    if args.render_factors:
        chosen["render_factors"] = args.render_factors
    return Settings(
        **chosen,
        iters=2 if args.quick else args.iters,
        budget_s=2.0 if args.quick else args.budget,
        frames=4 if args.quick else args.frames,
        threads=args.threads,
        work=args.work or cache_dir() / "bench",
        quick=args.quick,
        compile=args.compile,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    settings = settings_from(args)
    log.info("bench: %s", ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(settings).items()))

    cpu_tflops: dict[int, float] = {}
    peaks: dict[str, object] = {"cpu_tflops": cpu_tflops, "gpu": None}
    for n in sorted({1, settings.threads}):
        cpu_tflops[n] = machine.cpu_peak_tflops(n)
    if machine.gpu_name():
        peaks["gpu"] = machine.gpu_peak_tflops()
    records = []
    for name in args.sections:
        log.info("== %s ==", name)
        section = importlib.import_module(f"benchmarks.{SECTIONS[name]}")
        records += section.run(settings, peaks)

    run = {
        "machine": machine.describe(settings.threads),
        "peaks": peaks,
        "settings": {
            k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(settings).items()
        },
        "records": records,
    }
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    base = args.out / f"bench-{stamp}"
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(base.with_suffix(".json"), json.dumps(run, indent=1) + "\n")
    text = report.summary(run)
    write_text_atomic(base.with_suffix(".md"), text)
    png = report.plot(run, base.with_suffix(".png"))
    log.info("wrote %s.json, .md%s", base, " and .png" if png else "")
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
