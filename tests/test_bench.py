"""The benchmark sections run in-process with quick settings and return well-formed records."""

from __future__ import annotations

import math

import torch

from scripts.benchmarks.common import Settings
from scripts.benchmarks.train_step import run as run_train_step


def test_bench_train_step_cpu_fp32_and_bf16_records() -> None:
    settings = Settings(models=("tiny", "video"), quick=True, warmup=2, iters=1, threads=1)
    records = run_train_step(settings, {"cpu_tflops": {settings.threads: 1.0}, "gpu": None})

    cpu = [r for r in records if r["backend"] == "torch-cpu"]
    assert [(r["model"], r["precision"]) for r in cpu] == [("tiny", "fp32"), ("tiny", "bf16")]
    for r in cpu:
        assert r["section"] == "train" and (r["side"], r["batch"]) == (64, 2) and r["vgg_weights"] == "random"
        for key in ("steps_per_s", "images_per_s", "fps", "ms", "gmac", "tflops", "roofline", "speedup"):
            assert math.isfinite(r[key]) and r[key] > 0, (key, r)
        assert math.isclose(r["images_per_s"], r["steps_per_s"] * r["batch"])
        assert math.isclose(r["ms"], 1000 / r["steps_per_s"])
        assert math.isclose(r["gmac"], 3 * r["gmac_gen_fwd"] + 3 * r["gmac_vgg_fwd"])
        assert math.isclose(r["roofline"], r["tflops"] / 1.0) and r["peak_tflops"] == 1.0
    assert cpu[0]["speedup"] == 1.0

    gpu = [r for r in records if r["backend"] == "torch-cuda"]
    assert {(r["model"], r["precision"]) for r in gpu} == {
        (m, p) for m in ("video", "tiny") for p in ("fp32", "bf16", "fp16")
    }
    if not torch.cuda.is_available():
        assert all(r["skipped"] and "fps" not in r for r in gpu)
