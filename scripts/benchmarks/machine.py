"""What a benchmark ran on, and the compute peaks that turn throughput into a roofline fraction."""

from __future__ import annotations

import datetime
import importlib.metadata
import logging
import os
import platform
import subprocess
from typing import Any

from .common import timed, torch_threads

log = logging.getLogger("bench")

#: Dense fp16 tensor-core peaks of the H200 (NVIDIA's datasheet lists 1,979 / 1,671 TFLOP/s *with* sparsity;
#: dense is half): SXM and NVL, TFLOP/s. Quoted beside the measured GEMM, never instead of it.
H200_FP16_TFLOPS = {"SXM": 989.0, "NVL": 835.0}
_PACKAGES = (
    "vs-colorize",
    "torch",
    "onnxruntime",
    "onnxruntime-gpu",
    "onnx",
    "vapoursynth",
    "numpy",
    "tensorrt",
    "cuda-python",
)


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    """Installed versions of the packages that decide the numbers (absent ones left out)."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        import vapoursynth as vs

        out["vapoursynth-core"] = str(vs.core.core_version)
        plugins = {p.namespace for p in vs.core.plugins()}
        out["vs-mlrt"] = (
            ",".join(sorted(plugins & {"ort", "ov", "trt", "trt_rtx", "migx", "ncnn"})) or "absent"
        )
    except Exception as exc:  # no VapourSynth: the model-only sections still run
        out["vapoursynth-core"] = f"unavailable ({exc})"
    return out


def gpu_name() -> str | None:
    """The first CUDA device torch sees, or None."""
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def gpu_stack() -> dict[str, str]:
    """Driver, CUDA runtime and cuDNN versions of the GPU torch sees (empty without one)."""
    if gpu_name() is None:
        return {}
    import torch

    out = {"cuda-runtime": str(torch.version.cuda), "cudnn": str(torch.backends.cudnn.version())}
    try:
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        out["driver"] = smi.stdout.splitlines()[0].strip()
    except (OSError, subprocess.SubprocessError, IndexError):
        out["driver"] = "unknown (no nvidia-smi)"
    return out


def describe(threads: int) -> dict[str, Any]:
    """Date, host, CPU, GPU, thread count and versions of this run."""
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "gpu": gpu_name(),
        "gpu_stack": gpu_stack(),
        "versions": versions(),
    }


def cpu_peak_tflops(threads: int, *, side: int = 2048) -> float:
    """Measured fp32 GEMM throughput of ``threads`` CPU threads (torch.mm, best of 5): the CPU's practical roofline.

    A large square GEMM runs at the FMA units' sustained rate, which is what convolution kernels can reach at
    best; the datasheet peak needs the clock under AVX-512 load, which the machine does not report.
    """
    import torch

    with torch_threads(threads):
        a = torch.randn(side, side)
        b = torch.randn(side, side)
        t = timed(lambda: torch.mm(a, b), warmup=2, iters=5)["min_s"]
    return 2 * side**3 / t / 1e12


def gpu_peak_tflops(*, side: int = 8192) -> dict[str, float]:
    """Measured fp16 GEMM throughput on CUDA device 0 (CUDA events, best of 10), and the datasheet peak if known."""
    import torch

    a = torch.randn(side, side, device="cuda", dtype=torch.float16)
    b = torch.randn(side, side, device="cuda", dtype=torch.float16)
    for _ in range(3):
        torch.mm(a, b)
    times = []
    for _ in range(10):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        torch.mm(a, b)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1000)
    out = {"fp16_gemm_tflops": 2 * side**3 / min(times) / 1e12}
    name = torch.cuda.get_device_name(0)
    if "H200" in name:
        out["fp16_datasheet_tflops"] = H200_FP16_TFLOPS["NVL" if "NVL" in name else "SXM"]
    return out


def count_gmac(module: Any, shape: tuple[int, ...]) -> float:
    """Multiply-accumulates (GMAC) of one forward pass of ``module`` on an input of ``shape``.

    Counted on the meta device with ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix
    products; FLOPs / 2), the same method as the reference's §6 table, so nothing is computed for real.
    """
    import copy

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    meta = copy.deepcopy(module).to("meta")
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        meta(torch.empty(shape, device="meta"))
    return counter.get_total_flops() / 2 / 1e9
