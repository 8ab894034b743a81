"""Model-only throughput of the colorize generators: one frame in, one frame out, no VapourSynth around it.

For every model (``tiny``, ``artistic``, ``video``) and render factor (12, 21, 35 → 192², 336², 560²), each
variant runs the same network on a random grey-RGB frame of the render size:

* CPU — ``ort-cpu``: the filter's own ONNX Runtime session (``vs_colorize.backends.ORT``), fp32;
  ``torch-cpu``: the eager module the ONNX was exported from (norms baked, normalisation folded in), fp32;
  ``mlrt-ort`` / ``mlrt-ov``: vs-mlrt's plugins on a blank clip of the render size, when installed.
  ``ort-cpu …/b2``, ``/b4``: the same session fed 2 or 4 frames per call (the filter's ``batch_size``).
* GPU — ``torch-cuda`` fp32 eager at batch 1 (the DeOldify-style baseline), ``torch-cuda`` fp16 channels_last
  at batch 1 and 8, ``torch-cuda-graph`` (the fp16 forward captured in a CUDA graph, batch 1 and 8;
  ``-aligned``: with the merge zero-padded to 264/304 channels, :mod:`vs_colorize.export.align`), ``torch-compile``
  (``--compile``; compiling a big U-Net takes minutes), ``ort-cuda`` / ``ort-trt`` (onnxruntime-gpu; ``ort-cuda``
  also at batch 8, and ``ort-cuda-graph`` = CUDA graph + NHWC at batch 8), native ``trt`` (TensorRT, batch 1 and
  8, ``trt-aligned`` on the aligned export), ``mlrt-ort-cuda`` / ``mlrt-trt`` (vs-mlrt's CUDA plugins).

Each variant is warmed up (one call only when a call takes over a second), then timed: the median of
``settings.iters`` calls, or fewer once ``budget_s`` is spent. GPU timings synchronise after every call; the
session-based variants (ORT, TensorRT) copy the frame to and from the host every call, as the filter does.
The achieved TFLOP/s (2 × the counted MACs × fps) is compared with the measured GEMM peak of the same device:
fp32 with the same thread count on the CPU, fp16 tensor cores on the GPU (and the datasheet peak on an H200).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .common import (
    Record,
    Settings,
    blank_render,
    inference_module,
    onnx_artifact,
    roofline,
    skipped,
    throughput,
    timed,
    torch_threads,
)
from .machine import count_gmac

log = logging.getLogger("bench")

Step = Callable[[], Any]


class Unavailable(Exception):
    """A variant that cannot run here; the message says why."""


CPU_VARIANTS = ("ort-cpu", "ort-cpu/fp32/b2", "ort-cpu/fp32/b4", "torch-cpu", "mlrt-ort", "mlrt-ov")
GPU_VARIANTS = (
    "torch-cuda/fp32",
    "torch-cuda/fp16",
    "torch-cuda/fp16/b8",
    "torch-cuda-graph/fp16",
    "torch-cuda-graph/fp16/b8",
    "torch-cuda-graph-aligned/fp16/b8",
    "torch-compile/fp16",
    "ort-cuda/fp16",
    "ort-cuda/fp16/b8",
    "ort-cuda-graph/fp16/b8",
    "ort-trt/fp16",
    "trt/fp16",
    "trt/fp16/b8",
    "trt-aligned/fp16/b8",
    "mlrt-ort-cuda/fp16",
    "mlrt-trt/fp16",
)


def run(settings: Settings, peaks: dict[str, Any]) -> list[Record]:
    """Every model × render factor × variant available here; unavailable variants as skipped records."""
    import torch

    gpu = torch.cuda.is_available()
    records: list[Record] = []
    if not gpu:
        for name in GPU_VARIANTS:
            records.append(skipped({"section": "model", **_parse(name)}, "no CUDA GPU"))
    for model in settings.models:
        module = inference_module(model)
        onnx32 = onnx_artifact(model, settings)
        for rf in settings.render_factors:
            side = 16 * rf
            gmac = count_gmac(module, (1, 3, side, side))
            for name in CPU_VARIANTS + (GPU_VARIANTS if gpu else ()):
                base = {
                    "section": "model",
                    "model": model,
                    "rf": rf,
                    "side": side,
                    **_parse(name),
                    "gmac": gmac,
                }
                records.append(_measure(name, base, module, onnx32, settings, peaks))
        del module
    return records


def _parse(name: str) -> Record:
    """``"torch-cuda/fp16/b8"`` → backend, precision and batch fields."""
    backend, _, rest = name.partition("/")
    precision, _, batch = (rest or "fp32").partition("/")
    return {"backend": backend, "precision": precision, "batch": int(batch[1:]) if batch else 1}


def _measure(
    name: str, base: Record, module: Any, onnx32: Path, settings: Settings, peaks: dict[str, Any]
) -> Record:
    import vapoursynth as vs

    side, batch = base["side"], base["batch"]
    gpu = name in GPU_VARIANTS
    try:
        with _variant(name, base["model"], module, onnx32, side, batch, settings) as (step, sync):
            t = _time(step, sync, settings)
    except Unavailable as exc:
        return skipped(base, str(exc))
    except vs.Error as exc:  # a runtime that loads the model but fails on it: recorded, the run goes on
        return skipped(base, f"failed: {str(exc).splitlines()[0]}")
    fps = batch / t["median_s"]
    if gpu:
        gpu_peaks = peaks.get("gpu") or {}
        peak = gpu_peaks.get("fp16_gemm_tflops")
        extra = roofline(base["gmac"], fps, gpu_peaks.get("fp16_datasheet_tflops"))
        extra = {"roofline_datasheet": extra["roofline"]} if "roofline" in extra else {}
    else:
        peak = peaks["cpu_tflops"].get(settings.threads)
        extra = {}
    record = {**base, **throughput(t["median_s"], batch), **roofline(base["gmac"], fps, peak), **extra}
    record |= {"peak_tflops": peak, "n": t["n"], "min_ms": 1000 * t["min_s"] / batch}
    log.info("%s %s %d² b%d: %.2f fps", name, base["model"], side, batch, fps)
    return record


def _time(step: Step, sync: Step | None, settings: Settings) -> dict[str, float]:
    """Warm up (just once when a call takes over a second), then time within the run's budget."""
    start = time.perf_counter()
    step()
    if sync:
        sync()
    slow = time.perf_counter() - start > 1.0
    warmup = 0 if slow else max(0, settings.warmup - 1)
    return timed(step, warmup=warmup, iters=settings.iters, sync=sync, budget_s=settings.budget_s)


@contextmanager
def _variant(
    name: str, model: str, module: Any, onnx32: Path, side: int, batch: int, settings: Settings
) -> Iterator[tuple[Step, Step | None]]:
    """Set up variant ``name`` and yield (one forward pass, a sync or None); raise :class:`Unavailable`."""
    import torch

    x = np.random.default_rng(0).random((batch, 3, side, side), dtype=np.float32)
    if name.startswith("ort-cpu"):
        from vs_colorize.backends import ORT

        session = _open(ORT(provider="cpu", intra_op_threads=settings.threads), onnx32, x.shape)
        yield (lambda: session(x)), None
    elif name == "torch-cpu":
        with torch_threads(settings.threads):
            yield _torch_step(module, torch.from_numpy(x)), None
    elif name.startswith("mlrt-"):
        yield _mlrt(name, onnx32, side, settings), None
    elif name.startswith("torch-compile") and not settings.compile:
        raise Unavailable("torch.compile takes minutes on big U-Nets: pass --compile")
    elif name.startswith(("torch-cuda", "torch-compile")):
        if "aligned" in name:
            module = _aligned(module)
        yield _torch_cuda(name, module, x), torch.cuda.synchronize
        torch.cuda.empty_cache()
    elif name.startswith(("ort-cuda", "ort-trt")):
        from vs_colorize.backends import ORT

        provider: Literal["cuda", "tensorrt"] = "cuda" if name.startswith("ort-cuda") else "tensorrt"
        graph = name.startswith("ort-cuda-graph")  # with NHWC convolutions: the tuned CUDA-provider setting
        fp16 = onnx_artifact(model, settings, fp16=True)
        backend = ORT(
            provider=provider,
            trt_cache_dir=str(settings.work / "ort-trt"),
            cuda_graph=graph,
            prefer_nhwc=graph,
        )
        session = _open(backend, fp16, x.shape)
        yield (lambda: session(x)), None
    elif name.startswith("trt"):
        from vs_colorize.backends import TRT
        from vs_colorize.backends.trt import trt_available

        if not trt_available():
            raise Unavailable("tensorrt is not installed")
        onnx = onnx_artifact(model, settings, align=8) if "aligned" in name else onnx32
        session = _open(TRT(fp16=True, cache_dir=str(settings.work / "engines")), onnx, x.shape)
        yield (lambda: session(x)), None
    else:
        raise ValueError(f"unknown variant {name!r}")


def _open(backend: Any, path: Path, shape: tuple[int, ...]) -> Any:
    """A session of the filter's backend, or :class:`Unavailable` with the backend's own error message."""
    import vapoursynth as vs

    from vs_colorize.core.contract import read_model_info

    try:
        return backend.open(path, read_model_info(path), shape)
    except vs.Error as exc:
        raise Unavailable(str(exc).splitlines()[0]) from exc


def _aligned(module: Any) -> Any:
    """A copy of the prepared module with its full-resolution merge zero-padded to a multiple of 8 channels."""
    from vs_colorize.export.align import align_channels

    aligned = copy.deepcopy(module)
    align_channels(aligned, 8)
    return aligned


def _torch_step(module: Any, x: Any) -> Step:
    import torch

    def step() -> Any:
        with torch.inference_mode():
            return module(x)

    return step


def _torch_cuda(name: str, module: Any, x: np.ndarray) -> Step:
    """fp32 eager, fp16 channels_last eager, the same captured in a CUDA graph, or torch.compile'd."""
    import torch

    net = copy.deepcopy(module).cuda().eval()
    t = torch.from_numpy(x).cuda()
    if name == "torch-cuda/fp32":
        return _torch_step(net, t)
    net = net.half().to(memory_format=torch.channels_last)
    t = t.half().contiguous(memory_format=torch.channels_last)
    if name.startswith("torch-cuda/fp16"):
        return _torch_step(net, t)
    if name.startswith("torch-compile"):
        compiled = torch.compile(net, mode="max-autotune")
        return _torch_step(compiled, t)
    # CUDA graph: warm up on a side stream (cuDNN picks its algorithms), capture one forward, replay it.
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side), torch.inference_mode():
        for _ in range(3):
            net(t)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.inference_mode():
        net(t)
    return graph.replay


def _mlrt(name: str, onnx32: Path, side: int, settings: Settings) -> Step:
    """vs-mlrt on a blank RGBS clip of the render size; each call renders the next (uncached) frame."""
    import vapoursynth as vs

    from vs_colorize.backends import MLRT

    plugins: dict[str, tuple[Literal["ort", "ov", "trt"], str, bool]] = {
        "mlrt-ort": ("ort", "CPU", False),
        "mlrt-ov": ("ov", "CPU", False),
        "mlrt-ort-cuda/fp16": ("ort", "CUDA", True),
        "mlrt-trt/fp16": ("trt", "GPU", True),
    }
    plugin, device, fp16 = plugins[name]
    if not MLRT.available(plugin):
        raise Unavailable(f"vs-mlrt core.{plugin} is not installed")
    try:
        node = blank_render(MLRT(plugin=plugin, device=device, fp16=fp16), onnx32, side)
    except vs.Error as exc:
        raise Unavailable(str(exc).splitlines()[0]) from exc
    frames = iter(range(node.num_frames))
    return lambda: node.get_frame(next(frames))
