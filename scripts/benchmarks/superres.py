"""Superres section: the 3-frame 4× microscopy model alone, then the ``superres`` filter around it.

The model is ``build_sr()`` (default ``SRConfig``: 3-frame window, 4×, width 32, depth 2) with seeded random
weights (throughput does not depend on them), exported once to ONNX (LR sides 16..1024) in ``settings.work``.

* **model only** (``stage="model"``) — one ``[1, 3, side, side]`` float32 input → ``[1, 1, 4·side, 4·side]``:
  the ONNX file in the filter's own ONNX Runtime session (``vs_colorize.backends.ORT``, ``settings.threads``
  intra-op threads) and the same torch module eager, on the CPU; on a GPU also ORT-CUDA (fp32, host arrays in
  and out like the filter) and torch on CUDA (fp16, channels_last). Seconds per call are medians of
  ``settings.iters`` calls after ``settings.warmup`` untimed ones (CUDA synchronised after each).
* **filter** (``stage="filter"``) — ``vs_colorize.superres`` on a GRAY16 clip rendered into /dev/null with
  ``clip.output()`` (what vspipe does): GRAY16 → GRAYS, the temporal window, the model, GRAYS → GRAY16 at 4×.
  ``settings.frames`` frames at most are timed (3 or more, within ``settings.budget_s`` at the model-only speed;
  quick: 3) after ``settings.warmup`` other frames warmed the sessions.
  ``overhead`` = filter ms per frame / model-only ms − 1 against the same runtime's model-only record; the
  tiled variant shows what tiling costs (its ``gmac`` stays the untiled frame's work). A CPU variant whose
  sessions would not fit in available memory (estimated from the model-only ORT session's peak) is recorded
  as skipped instead of getting the whole run OOM-killed.

Full size is 1024² in (4096² out); ``settings.quick`` uses 128² and a 64² tile so a smoke run takes seconds.
"""

from __future__ import annotations

import copy
import gc
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from .common import Record, Settings, roofline, skipped, throughput, timed, torch_threads
from .machine import count_gmac

log = logging.getLogger("bench")

SIDE, QUICK_SIDE = 1024, 128
TILE, QUICK_TILE = 512, 64
DYNAMIC = (16, 1024)
NO_GPU = "no CUDA GPU visible"
#: Real microscopy content for the filter (ISBI 2012 EM slices, 512² GRAY); seeded noise where absent.
EM_SLICES = Path(__file__).resolve().parents[3] / "shared/data/microscopy/isbi2012_em_sstem_train30"


class Variant(NamedTuple):
    """One filter configuration; ``make(vs_colorize.backends)`` builds its backend."""

    name: str
    make: Callable[[Any], Any]
    precision: str = "fp32"
    ref: str = "ort-cpu"  # the model-only record its overhead is measured against
    gpu: bool = False
    tiled: bool = False


def _variants(threads: int) -> list[Variant]:
    """CPU: ORT ``threads``×1 stream, ORT ``threads/2``×2 streams (the same cores), ORT tiled, vs-mlrt
    ``core.ort`` (the plugin's own threading); GPU: ORT-CUDA, vs-mlrt ORT-CUDA (fp32), torch ``.pt2`` (fp16).
    """
    half = max(1, threads // 2)

    def ort(b: Any, intra: int = threads, streams: int = 1) -> Any:
        return b.ORT(provider="cpu", intra_op_threads=intra, num_streams=streams)

    return [
        Variant(f"ort-cpu {threads}t×1", ort),
        Variant(f"ort-cpu {half}t×2", lambda b: ort(b, half, 2)),
        Variant(f"ort-cpu {threads}t×1 tiled", ort, tiled=True),
        Variant("mlrt-ort-cpu", lambda b: b.MLRT(plugin="ort", device="CPU")),
        Variant("ort-cuda", lambda b: b.ORT(provider="cuda"), ref="ort-cuda", gpu=True),
        Variant("mlrt-ort-cuda", lambda b: b.MLRT(plugin="ort", device="CUDA"), ref="ort-cuda", gpu=True),
        Variant("torch-cuda", lambda b: b.Torch(device="cuda", fp16=True), "fp16", "torch-cuda", gpu=True),
    ]  # fmt: skip


def run(settings: Settings, peaks: dict[str, Any]) -> list[Record]:
    """Model-only and filter records of the default SR model at 1024² (quick: 128²); GPU ones may skip."""
    import torch

    from vs_colorize.export.kinds import kind_spec
    from vs_colorize.export.prepare import prepare
    from vs_colorize.training.archs.sr import build_sr

    side = QUICK_SIDE if settings.quick else SIDE
    torch.manual_seed(0)
    net = build_sr().eval()
    module = prepare(net, kind_spec("superres", "bench", net), func="bench")
    cfg = net.config
    base = {"section": "superres", "model": cfg.arch, "side": side, "scale": cfg.scale, "tile": None}
    base["gmac"] = count_gmac(module, (1, cfg.window, side, side))
    onnx = _artifact(net, settings, "onnx")
    # roofline peaks: the CPU's fp32 GEMM at these threads, the GPU's fp16 GEMM (no fp32 GPU peak is measured)
    roof = {
        "cpu": peaks["cpu_tflops"].get(settings.threads),
        "fp16": (peaks.get("gpu") or {}).get("fp16_gemm_tflops"),
    }
    models = _model_only(module, onnx, settings, base, roof)
    return [*models.values(), *_filters(net, onnx, settings, base, models, roof)]


def _artifact(net: Any, settings: Settings, fmt: str) -> Path:
    """The fp32 ONNX (``fmt="onnx"``) or ``.pt2`` export of ``net`` (sides 16..1024), cached in ``work``."""
    from vs_colorize.export import to_onnx, to_pt2

    path = settings.work / f"{net.config.arch}-{DYNAMIC[0]}-{DYNAMIC[1]}-fp32.{fmt}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        log.info("exporting %s to %s …", net.config.arch, path)
        export = to_onnx if fmt == "onnx" else to_pt2
        export(net, path, render_size=64, dynamic=DYNAMIC, kind="superres", check=False)
    return path


def _measured(r: Record, seconds: float, frames: int, peak: float | None) -> Record:
    return {**r, **throughput(seconds, frames), **roofline(r["gmac"], frames / seconds, peak)}


def _model_only(
    module: Any, onnx: Path, settings: Settings, base: Record, roof: dict[str, Any]
) -> dict[str, Record]:
    """Records keyed ``ort-cpu``, ``torch-cpu``, ``ort-cuda`` and ``torch-cuda`` (GPU ones may skip).

    ``ort-cpu`` also records ``peak_gib``, how far the process's resident memory rose during the session's
    calls (Linux), which the filter variants use to tell whether their sessions fit in memory.
    """
    import onnxruntime as ort
    import torch

    from vs_colorize.backends import ORT
    from vs_colorize.core.contract import read_model_info

    x = np.random.default_rng(0).random((1, 3, base["side"], base["side"]), dtype=np.float32)
    n: dict[str, Any] = {"warmup": settings.warmup, "iters": settings.iters, "budget_s": settings.budget_s}

    def ort_call(provider: Literal["cpu", "cuda"]) -> Callable[[], Any]:
        """The filter's own ORT session (an explicit GPU provider that does not stick raises)."""
        backend = ORT(provider=provider, intra_op_threads=settings.threads)
        session = backend.open(onnx, read_model_info(onnx), x.shape)
        return lambda: session(x)

    cpu = {**base, "stage": "model", "precision": "fp32", "threads": settings.threads}
    rss = _rss_reset()
    t = timed(ort_call("cpu"), **n)  # the session is freed when timed() returns
    peak = (_proc_kib("/proc/self/status", "VmHWM") - rss) / 2**20 if rss else None
    out = {
        "ort-cpu": _measured({**cpu, "backend": "ort-cpu", "peak_gib": peak}, t["median_s"], 1, roof["cpu"])
    }
    with torch_threads(settings.threads), torch.inference_mode():
        t = timed(lambda: module(torch.from_numpy(x)), **n)
    out["torch-cpu"] = _measured({**cpu, "backend": "torch-cpu"}, t["median_s"], 1, roof["cpu"])

    ort_gpu = {**base, "stage": "model", "backend": "ort-cuda", "precision": "fp32"}
    torch_gpu = {**base, "stage": "model", "backend": "torch-cuda", "precision": "fp16"}
    if not torch.cuda.is_available():
        return out | {"ort-cuda": skipped(ort_gpu, NO_GPU), "torch-cuda": skipped(torch_gpu, NO_GPU)}
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        out["ort-cuda"] = skipped(ort_gpu, "onnxruntime has no CUDA provider (needs onnxruntime-gpu)")
    else:
        try:
            out["ort-cuda"] = _measured(ort_gpu, timed(ort_call("cuda"), **n)["median_s"], 1, None)
        except Exception as exc:  # CUDA/cuDNN libraries missing: say so and go on
            out["ort-cuda"] = skipped(ort_gpu, f"ORT-CUDA failed: {exc}")
    gpu = copy.deepcopy(module).half().cuda().to(memory_format=torch.channels_last)
    xg = torch.from_numpy(x).cuda().half().contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        t = timed(lambda: gpu(xg), **n, sync=torch.cuda.synchronize)
    out["torch-cuda"] = _measured(torch_gpu, t["median_s"], 1, roof["fp16"])
    return out


def _filters(
    net: Any, onnx: Path, settings: Settings, base: Record, models: dict[str, Record], roof: dict[str, Any]
) -> list[Record]:
    """One record per :func:`_variants` entry, with its overhead over the matching model-only record."""
    import torch

    side = base["side"]
    per_frame_s = models["ort-cpu"]["ms"] / 1000  # at least 3 frames, else as many as the time budget allows
    frames = (
        min(settings.frames, 3)
        if settings.quick
        else max(3, min(settings.frames, int(settings.budget_s / per_frame_s)))
    )
    rec = {**base, "stage": "filter", "frames": frames}
    try:
        import vapoursynth as vs

        from vs_colorize import backends, superres
        from vs_colorize.backends.tiles import DEFAULT_OVERLAP
        from vs_colorize.tiling import plan_axis
    except ImportError as exc:
        return [
            skipped({**rec, "backend": v.name, "precision": v.precision}, f"no vapoursynth: {exc}")
            for v in _variants(settings.threads)
        ]

    src, content = _source(vs, side, frames + settings.warmup)
    core = vs.core
    threads_before, core.num_threads = core.num_threads, max(settings.threads, 2)
    out: list[Record] = []
    try:
        for v in _variants(settings.threads):
            backend = v.make(backends)
            r = {**rec, "backend": v.name, "precision": v.precision, "content": content}
            r |= {"threads": getattr(backend, "intra_op_threads", None), "streams": backend.num_streams}
            tile = overlap = None
            if v.tiled:
                tile = QUICK_TILE if settings.quick else TILE
                overlap = min(DEFAULT_OVERLAP, tile // 2)  # the backends' default overlap
                r |= {"tile": tile, "overlap": overlap, "tiles": len(plan_axis(side, tile, overlap)) ** 2}
            why = None
            if v.gpu and not torch.cuda.is_available():
                why = NO_GPU
            elif isinstance(backend, backends.MLRT) and not backends.MLRT.available("ort"):
                why = "vs-mlrt core.ort is not installed (pip install vapoursynth-mlrt-ort)"
            elif not v.gpu:
                why = _memory_short(models["ort-cpu"], backend.num_streams, (tile or side) / side)
            if why:
                out.append(skipped(r, why))
                continue
            model = _artifact(net, settings, "pt2") if v.ref == "torch-cuda" else onnx
            log.info("superres filter %s: %d frames of %d² …", v.name, frames, side)
            try:
                seconds = _render(superres(src, model, backend=backend, tile=tile, overlap=overlap), frames)
            except vs.Error as exc:
                if not v.gpu:
                    raise
                out.append(skipped(r, f"failed: {exc}"))
                continue
            finally:
                gc.collect()  # the filter's node graph holds its sessions (ORT's arena) in a reference cycle
            r = _measured(r, seconds, frames, roof.get(v.precision) if v.gpu else roof["cpu"])
            if "ms" in models[v.ref]:
                r |= {"model_only_ms": models[v.ref]["ms"], "overhead": r["ms"] / models[v.ref]["ms"] - 1}
            out.append(r)
    finally:
        core.num_threads = threads_before
    return out


def _source(vs: Any, side: int, length: int) -> tuple[Any, str]:
    """A GRAY16 ``side``² clip of ``length`` frames and a description of its content."""
    files = sorted(EM_SLICES.glob("*.png"))[:length] if EM_SLICES.is_dir() else []
    if files:
        import torch
        import torch.nn.functional as F

        from vs_colorize.training.sr.data import load_sequence

        em = torch.from_numpy(np.stack([load_sequence(f)[0] for f in files]))[:, None]
        unit = F.interpolate(em, size=(side, side), mode="bicubic", antialias=True).clamp(0, 1)[:, 0].numpy()
        content = f"ISBI 2012 EM slices ({len(files)}, 512² bicubic-resized to {side}²)"
    else:
        unit = np.random.default_rng(0).random((length, side, side))
        content = "uniform noise (seed 0)"
    stack = np.round(unit[np.arange(length) % len(unit)] * 65535).astype(np.uint16)
    blank = vs.core.std.BlankClip(format=vs.GRAY16, width=side, height=side, length=length)

    def fill(n: int, f: Any) -> Any:
        frame = f.copy()
        np.copyto(np.asarray(frame[0]), stack[n])
        return frame

    return blank.std.ModifyFrame(blank, fill), content


def _render(clip: Any, frames: int) -> float:
    """Seconds to render ``clip[:frames]`` into /dev/null with ``VideoNode.output`` (vspipe's path), after the
    frames past ``frames`` were rendered untimed (warm-up outside the timed range: no cached frames).
    """
    with open(os.devnull, "wb") as sink:
        if clip.num_frames > frames:
            clip[frames:].output(sink)
        start = time.perf_counter()
        clip[:frames].output(sink)
        return time.perf_counter() - start


def _rss_reset() -> int | None:
    """This process's resident memory (KiB) after resetting its peak (``VmHWM``); None off Linux."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _proc_kib("/proc/self/status", "VmRSS")
    except OSError:
        return None


def _proc_kib(path: str, key: str) -> int:
    with open(path) as f:
        return next(int(line.split()[1]) for line in f if line.startswith(f"{key}:"))


def _memory_short(model: Record, streams: int, tile_fraction: float) -> str | None:
    """Why ``streams`` CPU sessions would not fit in available memory (Linux), or None if they fit or unknown.

    A session is estimated at the model-only ORT session's peak (ORT's CPU arena: ~17 GiB at 1024² in here)
    scaled by the tile's share of the frame's pixels, plus 1 GiB for VapourSynth's frames.
    """
    try:
        available = _proc_kib("/proc/meminfo", "MemAvailable") / 2**20
    except (OSError, StopIteration):
        return None
    need = streams * (model.get("peak_gib") or 0) * tile_fraction**2 + 1
    if need <= available:
        return None
    return (
        f"needs ≈{need:.1f} GiB ({streams} session(s) like the model-only one), {available:.1f} GiB available"
    )
