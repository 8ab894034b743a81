"""Batched inference (the backends' ``batch_size``) side by side with batch 1, model alone and whole filter.

For each model and backend family, every batch size runs the backend's sessions alone (``[B, 3, side, side]`` per
call, seconds per frame = per call / B) and the ``colorize`` filter at 720p and 1080p into a null sink
(:mod:`.pipeline`'s harness); ``ratio`` is the fps over the family's batch-1 fps at the same resolution, measured
in the same run.

* CPU: the shipped demo model (``vs_colorize/assets/demo-fp32.onnx``) on ONNX Runtime laid out as autoselection does
  (:func:`vs_colorize.backends.cpu_layout`), batch 1, 2, 4.
* GPU (when one is visible): the pipeline models (``video`` by default) in fp16 on ONNX Runtime CUDA (plain, and
  with ``cuda_graph`` + ``prefer_nhwc``), native TensorRT and torch (CUDA graphs), batch 1, 4, 8, 16.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import Record, Settings, skipped, throughput
from .pipeline import RESOLUTIONS, _artifact, _model_only, _pipeline

log = logging.getLogger("bench")

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "vs_colorize" / "assets" / "demo-fp32.onnx"
CPU_BATCHES = (1, 2, 4)
GPU_BATCHES = (1, 4, 8, 16)


def families(settings: Settings, gpu: bool) -> dict[str, Callable[[int], Any]]:
    """Backend families by label: each builds the backend for a batch size."""
    from vs_colorize.backends import ORT, TRT, Torch, cpu_layout

    layout = cpu_layout()
    out: dict[str, Callable[[int], Any]] = {
        f"ort-cpu auto {layout['intra_op_threads']}x{layout['num_streams']}": lambda b: ORT(
            provider="cpu", batch_size=b, **layout
        )
    }
    if gpu:
        engines = str(settings.work / "engines")
        out |= {
            "ort-cuda fp16": lambda b: ORT(provider="cuda", batch_size=b),
            "ort-cuda fp16 graph nhwc": lambda b: ORT(
                provider="cuda", batch_size=b, cuda_graph=True, prefer_nhwc=True
            ),
            "trt fp16 x2": lambda b: TRT(fp16=True, num_streams=2, batch_size=b, cache_dir=engines),
            "torch-cuda fp16 graphs": lambda b: Torch(
                device="cuda", fp16=True, batch_size=b, cuda_graphs=True
            ),
        }
    return out


def run(settings: Settings, peaks: dict[str, Any]) -> list[Record]:
    import torch
    import vapoursynth as vs

    vs.core.num_threads = settings.threads
    gpu = torch.cuda.is_available()
    models = ["demo", *(settings.pipeline_models if gpu else ())]
    side = 16 * settings.pipeline_rf
    records: list[Record] = []
    for model in models:
        for label, make in families(settings, gpu).items():
            if model == "demo" and "cpu" not in label:
                continue  # the demo model is the CPU's; GPUs run the real presets
            if model != "demo" and "cpu" in label:
                continue
            first: dict[str, float] = {}
            for batch in CPU_BATCHES if "cpu" in label else GPU_BATCHES:
                backend = make(batch)
                base = {"section": "batch", "model": model, "rf": settings.pipeline_rf, "side": side}
                base |= {"backend": label, "batch": batch}
                try:
                    path = DEMO if model == "demo" else _artifact(model, backend, settings)
                    model_s, frames = _model_only(backend, path, side, settings)
                except (vs.Error, ImportError, RuntimeError) as exc:
                    records.append(skipped(base, str(exc).splitlines()[0]))
                    break
                timings = {"model only": model_s}
                for res, (w, h) in RESOLUTIONS.items():
                    timings[res] = _pipeline(path, backend, w, h, frames, settings)[0]
                for res, s in timings.items():
                    first.setdefault(res, s)
                    ratio = first[res] / s
                    log.info("batch %s %s b%d %s: %.2f fps (×%.2f)", model, label, batch, res, 1 / s, ratio)
                    records.append(
                        {**base, "resolution": res, **throughput(s), "frames": frames, "ratio": ratio}
                    )
    return records
