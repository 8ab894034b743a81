"""scripts/bench.py end to end in its quick mode: the model-only and pipeline sections measure the tiny generator
with the CPU backends here, record every GPU variant as not measured (with the reason), write JSON, markdown and
plot beside each other and print the tables last on stdout."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vs_colorize.backends import cpu_layout

ROOT = Path(__file__).resolve().parents[1]
GPU = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path]:
    out = tmp_path_factory.mktemp("bench")
    cmd = [
        sys.executable,
        "scripts/bench.py",
        "--quick",
        "--sections",
        "model,pipeline,batch",
        "--threads",
        "2",
    ]
    proc = subprocess.run(
        [*cmd, "--out", str(out / "results"), "--work", str(out / "work")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = (out / "results").glob("bench-*.json")
    return json.loads(result.read_text()), proc.stdout, result


def test_bench_quick_writes_json_markdown_and_plot_beside_each_other(
    quick_run: tuple[dict, str, Path],
) -> None:
    run, stdout, result = quick_run
    assert result.with_suffix(".md").read_text() == stdout  # the tables, printed last
    assert result.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    machine = run["machine"]
    assert machine["cpu_count"] >= 1 and machine["date"][:2] == "20" and machine["gpu"] == GPU
    assert {"torch", "onnxruntime", "vapoursynth"} <= set(machine["versions"])
    assert all(v > 0 for v in run["peaks"]["cpu_tflops"].values())


def test_bench_quick_measures_the_tiny_model_on_every_cpu_backend(quick_run: tuple[dict, str, Path]) -> None:
    run, stdout, _ = quick_run
    measured = [r for r in run["records"] if r["section"] == "model" and "fps" in r]
    model = {r["backend"]: r for r in measured if r["batch"] == 1}
    assert [r["batch"] for r in measured if r["backend"] == "ort-cpu"] == [1, 2, 4]
    assert {"ort-cpu", "torch-cpu", "mlrt-ort"} <= set(model)  # vs-mlrt's ORT plugin is in the dev extra
    for r in model.values():
        assert (r["model"], r["side"], r["batch"]) == ("tiny", 192, 1)
        assert math.isclose(r["gmac"], 1.158, rel_tol=0.01)  # counted on the meta device
        assert r["fps"] > 0 and math.isclose(r["ms"], 1000 / r["fps"])
        assert math.isclose(r["tflops"], 2 * r["gmac"] * r["fps"] / 1000)
        assert 0 < r["roofline"] == pytest.approx(r["tflops"] / r["peak_tflops"])
    gpu = [
        r
        for r in run["records"]
        if r["section"] == "model" and r["backend"].startswith(("torch-cuda", "trt"))
    ]
    assert gpu
    if GPU is None:  # every GPU variant is recorded as not measured, with the reason, and listed
        assert all(r["skipped"] == "no CUDA GPU" and "fps" not in r for r in gpu)
        listed = stdout[stdout.index("### Not measured here") :].splitlines()[2:]
        assert "- model: trt fp16 — no CUDA GPU" in listed and all(line.startswith("- ") for line in listed)
    else:  # torch's own CUDA variants always run on a GPU; others may lack their runtime, never the GPU
        assert all(r.get("skipped") != "no CUDA GPU" for r in gpu)
        eager = [r for r in gpu if r["backend"] == "torch-cuda"]
        assert eager and all(r["fps"] > 0 and r["tflops"] > 0 for r in eager)
        assert "no CUDA GPU" not in stdout


def test_bench_quick_pipeline_overhead_is_pipeline_over_model_only(quick_run: tuple[dict, str, Path]) -> None:
    run, _, _ = quick_run
    pipe = [r for r in run["records"] if r["section"] == "pipeline" and "fps" in r]
    configs = {r["backend"] for r in pipe if r["model"] == "tiny"}
    auto = cpu_layout()  # what autoselect picks on this machine (1x2 on 2 cores)
    assert {
        "ort-cpu 1x1",
        "ort-cpu 2x1",
        f"ort-cpu auto {auto['intra_op_threads']}x{auto['num_streams']}",
    } <= configs
    assert "mlrt-ort" in configs
    for config in configs:
        rows = {r["resolution"]: r for r in pipe if r["model"] == "tiny" and r["backend"] == config}
        assert set(rows) == {"model only", "720p", "1080p"}
        for res in ("720p", "1080p"):
            assert rows[res]["overhead"] == pytest.approx(rows[res]["ms"] / rows["model only"]["ms"] - 1)
    identity = [r for r in pipe if r["model"] == "identity"]
    assert {r["resolution"] for r in identity} == {"720p", "1080p"}
    assert all(r["fps"] > 0 and r["cpu_ms"] > 0 for r in identity)


def test_bench_quick_batch_section_ratios_are_over_batch_1(quick_run: tuple[dict, str, Path]) -> None:
    """The demo model at batch 1, 2, 4 on the autoselected CPU layout; ratio = batch-1 fps / fps, same resolution."""
    run, stdout, _ = quick_run
    rows = [r for r in run["records"] if r["section"] == "batch"]
    assert {(r["model"], r["batch"]) for r in rows} == {("demo", 1), ("demo", 2), ("demo", 4)}
    for res in ("model only", "720p", "1080p"):
        by_batch = {r["batch"]: r for r in rows if r["resolution"] == res}
        for r in by_batch.values():
            assert r["ratio"] == pytest.approx(r["fps"] / by_batch[1]["fps"])
    assert "### Batched inference" in stdout


def test_bench_rejects_unknown_sections() -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/bench.py", "--sections", "model,nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "--sections: unknown nope" in proc.stderr and proc.stdout == ""
