"""scripts/benchmarks sections run in-process with quick settings; their records hold real numbers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from scripts.benchmarks.common import Settings
from scripts.benchmarks.superres import QUICK_SIDE, QUICK_TILE
from scripts.benchmarks.superres import run as run_superres
from scripts.benchmarks.train_step import run as run_train_step

GPU_SUPERRES = {
    ("model", "ort-cuda"),
    ("model", "torch-cuda"),
    ("filter", "ort-cuda"),
    ("filter", "mlrt-ort-cuda"),
    ("filter", "torch-cuda"),
}


def test_bench_superres_quick_records(tmp_path: Path) -> None:
    settings = Settings(quick=True, warmup=1, iters=1, frames=3, threads=2, work=tmp_path)
    peak = 0.05
    records = run_superres(settings, {"cpu_tflops": {2: peak}, "gpu": None})
    by = {(r["stage"], r["backend"]): r for r in records}
    assert len(by) == len(records) == 11
    assert all(r["section"] == "superres" and r["side"] == QUICK_SIDE and r["scale"] == 4 for r in records)
    gmac = records[0]["gmac"]
    assert 1 < gmac < 3  # 1.92 GMAC per 128² frame (122.7 at 1024²)
    assert (tmp_path / "pssr3-x4-w32-d2-16-1024-fp32.onnx").is_file()  # cached for the next run

    measured = [r for r in records if "skipped" not in r]
    for r in measured:
        assert math.isfinite(r["fps"]) and r["fps"] > 0 and r["ms"] == pytest.approx(1000 / r["fps"])
        assert r["gmac"] == gmac and r["precision"] == "fp32"
        assert r["tflops"] == pytest.approx(2 * gmac * r["fps"] / 1000) and r["roofline"] == pytest.approx(
            r["tflops"] / peak
        )
    model = by[("model", "ort-cpu")]
    assert model["threads"] == 2 and model["peak_gib"] > 0
    assert "fps" in by[("model", "torch-cpu")]

    filters = [r for r in measured if r["stage"] == "filter"]
    assert {r["backend"] for r in filters} >= {"ort-cpu 2t×1", "ort-cpu 1t×2", "ort-cpu 2t×1 tiled"}
    for r in filters:
        assert r["frames"] == 3 and r["content"]
        assert r["model_only_ms"] == model["ms"]
        assert r["overhead"] == pytest.approx(r["ms"] / model["ms"] - 1)
    split = by[("filter", "ort-cpu 1t×2")]
    assert (split["threads"], split["streams"]) == (1, 2)
    tiled = by[("filter", "ort-cpu 2t×1 tiled")]
    assert (tiled["tile"], tiled["overlap"], tiled["tiles"]) == (QUICK_TILE, 32, 9)
    assert by[("filter", "ort-cpu 2t×1")]["tile"] is None

    for key in GPU_SUPERRES:
        if torch.cuda.is_available():
            assert "fps" in by[key] or by[key]["skipped"]
        else:
            assert by[key]["skipped"] == "no CUDA GPU visible" and "fps" not in by[key]


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
