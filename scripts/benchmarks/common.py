"""What every benchmark section shares: settings, a timer, the record format and cached ONNX artifacts.

A record is a flat dict that JSON can hold::

    {"section": "model", "model": "video", "rf": 21, "side": 336, "backend": "ort-cpu", "precision": "fp32",
     "batch": 1, "fps": 0.41, "ms": 2440.0, "gmac": 245.9, "tflops": 0.2, "roofline": 0.93, ...}

A variant that cannot run here is recorded too, with ``"skipped": "<why>"`` and no numbers, so the table
says what was not measured instead of silently leaving it out.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("bench")

Record = dict[str, Any]

#: DeOldify's render factors benchmarked by default: 192², 336² (the default) and 560².
RENDER_FACTORS = (12, 21, 35)
MODELS = ("tiny", "artistic", "video")


@dataclass(frozen=True)
class Settings:
    """One benchmark run's choices (see ``scripts/bench.py --help``)."""

    models: tuple[str, ...] = MODELS
    render_factors: tuple[int, ...] = RENDER_FACTORS
    warmup: int = 2
    iters: int = 5
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    work: Path = Path("bench-work")
    frames: int = 24
    budget_s: float = 20.0
    pipeline_models: tuple[str, ...] = ("tiny", "video")
    pipeline_rf: int = 21
    quick: bool = False
    compile: bool = False

    @property
    def side_range(self) -> tuple[int, int]:
        """The smallest and largest render side any section asks of the colorize artifacts."""
        sides = [16 * rf for rf in (*self.render_factors, self.pipeline_rf)]
        return min(sides), max(sides)


def timed(
    fn: Callable[[], Any],
    *,
    warmup: int,
    iters: int,
    sync: Callable[[], Any] | None = None,
    budget_s: float | None = None,
) -> dict[str, float]:
    """Run ``fn`` ``warmup`` times untimed, then ``iters`` times timed; seconds per call as median/min/mean.

    ``sync`` (e.g. ``torch.cuda.synchronize``) runs after every call so asynchronous work is counted.
    ``budget_s`` caps the timed phase for slow variants (a 560² video frame takes seconds on a CPU): timing stops
    once the budget is spent and at least three calls were timed.
    """

    def call() -> float:
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        return time.perf_counter() - start

    for _ in range(warmup):
        call()
    times: list[float] = []
    spent = 0.0
    while len(times) < max(1, iters):
        times.append(call())
        spent += times[-1]
        if budget_s is not None and spent > budget_s and len(times) >= 3:
            break
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "mean_s": statistics.fmean(times),
        "n": len(times),
    }


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch's CPU ops on ``n`` intra-op threads, restoring the previous count afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def throughput(seconds: float, items: int = 1) -> dict[str, float]:
    """``fps`` and ``ms`` per item for ``items`` processed in ``seconds``."""
    return {"fps": items / seconds, "ms": 1000.0 * seconds / items}


def roofline(gmac: float | None, fps: float, peak_tflops: float | None) -> dict[str, float]:
    """Achieved TFLOP/s (2 FLOPs per multiply-accumulate) and its fraction of ``peak_tflops``."""
    if not gmac:
        return {}
    tflops = 2 * gmac * fps / 1000.0
    out = {"tflops": tflops}
    if peak_tflops:
        out["roofline"] = tflops / peak_tflops
    return out


def skipped(base: Record, why: str) -> Record:
    """A record for a variant that could not run here, saying why."""
    log.info("skip %s: %s", label(base), why)
    return {**base, "skipped": why}


def label(r: Record) -> str:
    """A short human name of a record's variant, for logs."""
    parts = [str(r.get(k)) for k in ("section", "model", "backend", "precision") if r.get(k) is not None]
    if r.get("side"):
        parts.append(f"{r['side']}²")
    if r.get("resolution"):
        parts.append(r["resolution"])
    return " ".join(parts)


def blank_render(backend: Any, path: Path, side: int) -> Any:
    """The model-only node of a VapourSynth-side backend (vs-mlrt): ``backend`` on a blank ``side``² RGBS clip of
    10,000 frames, so each new frame number is an uncached model run."""
    import vapoursynth as vs

    from vs_colorize.core.contract import read_model_info

    clip = vs.core.std.BlankClip(width=side, height=side, format=vs.RGBS, length=10_000, color=[0.4] * 3)
    node, _ = backend.apply([clip], path, read_model_info(path), width=side, height=side, func="bench")
    return node


def generator(model: str) -> Any:
    """Generator preset ``model`` with seeded random weights whose BatchNorm statistics are calibrated, in eval mode.

    Throughput does not depend on the weights' values, so nothing is downloaded; but with the initial running
    statistics (mean 0, variance 1) the untrained ResNet's activations grow until the self-attention's logits
    overflow and the ``video``/``artistic`` outputs are NaN, which the filter rightly refuses. Two train-mode
    passes over random 64² images set the statistics (cumulative average) so every output is finite.
    """
    import torch
    from torch import nn

    from vs_colorize.training.archs import build_generator

    torch.manual_seed(0)
    gen = build_generator(model)
    for m in gen.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    gen.train()
    with torch.no_grad():
        for _ in range(2):
            gen(torch.rand(4, 3, 64, 64))
    return gen.eval()


def onnx_artifact(model: str, settings: Settings, *, fp16: bool = False, align: int | None = None) -> Path:
    """The ONNX export of :func:`generator` ``(model)``, dynamic over every benchmarked side, cached in ``work``;
    ``align``: with the merge zero-padded to a multiple of that many channels (:mod:`vs_colorize.export.align`)."""
    from vs_colorize.export import to_onnx

    lo, hi = settings.side_range
    suffix = f"-a{align}" if align else ""
    path = settings.work / f"{model}-{lo}-{hi}-{'fp16' if fp16 else 'fp32'}{suffix}.onnx"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    log.info("exporting %s (%s) to %s …", model, "fp16" if fp16 else "fp32", path)
    dynamic = (lo, hi) if hi > lo else None
    to_onnx(
        generator(model), path, render_size=lo, dynamic=dynamic, fp16=fp16, check=False, align_channels=align
    )
    return path


def inference_module(model: str) -> Any:
    """The torch module the ONNX artifact is made of: spectral/weight norm baked, normalisation folded in, eval."""
    from vs_colorize.export.kinds import kind_spec
    from vs_colorize.export.prepare import prepare

    gen = generator(model)
    return prepare(gen, kind_spec("colorize", "bench", gen), func="bench")
