"""The ``colorize`` filter at 720p and 1080p into a null sink, next to the model alone in the same configuration.

For each pipeline model at the default render factor (21 → 336²) and each backend configuration:

* **model only** — the backend's sessions (one per stream, each in its own Python thread, as the filter's
  ``FrameEval`` pattern runs them) on a preallocated frame; vs-mlrt: its plugin on a blank clip of the render size;
* **pipeline** — ``vs_colorize.colorize`` on a YUV420P8 clip of 1280×720 / 1920×1080 (a kept blank frame, so the
  source costs nothing) written by ``clip.output`` to ``/dev/null``, exactly what ``vspipe … | ffmpeg`` does minus
  the decoder and the encoder; session warm-up and output start-up are left out (steady state);
* **overhead** = pipeline time per frame / model-only time per frame − 1: what the VapourSynth side (resize to
  render size, grey → RGB, frame ⇄ array copies, chroma upscaling and the luma merge, props) adds.

A last pipeline runs an identity "model" (one ONNX ``Identity`` node): its cost per frame is the VapourSynth side
alone, the floor any GPU pipeline at that resolution has to fit in (``cpu_ms``: CPU time per frame, all threads).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from .common import Record, Settings, blank_render, generator, onnx_artifact, skipped, throughput

log = logging.getLogger("bench")

RESOLUTIONS = {"720p": (1280, 720), "1080p": (1920, 1080)}


def configs(settings: Settings, gpu: bool) -> dict[str, Any]:
    """Backend configurations by label (ORT CPU labels: intra-op threads × streams); GPU ones when a GPU is visible.

    ``ort-cpu 1x1`` is ``ORT()`` as built by hand, ``ort-cpu auto`` what ``autoselect`` picks on this machine
    (:func:`vs_colorize.backends.cpu_layout`), ``ort-cpu Nx1`` one session on every core.
    """
    from vs_colorize.backends import MLRT, ORT, TRT, Torch, cpu_layout

    n = settings.threads
    auto = cpu_layout()
    out: dict[str, Any] = {
        "ort-cpu 1x1": ORT(provider="cpu"),
        f"ort-cpu {n}x1": ORT(provider="cpu", intra_op_threads=n),
        f"ort-cpu auto {auto['intra_op_threads']}x{auto['num_streams']}": ORT(provider="cpu", **auto),
        "mlrt-ort": MLRT(plugin="ort", device="CPU"),
    }
    if gpu:
        out |= {
            "ort-cuda x2": ORT(provider="cuda", num_streams=2),
            "torch-cuda fp16 x2": Torch(device="cuda", fp16=True, num_streams=2),
            "trt fp16 x2": TRT(fp16=True, num_streams=2, cache_dir=str(settings.work / "engines")),
            "mlrt-ort-cuda fp16 x2": MLRT(plugin="ort", device="CUDA", fp16=True, num_streams=2),
            "mlrt-trt fp16 x2": MLRT(plugin="trt", fp16=True, num_streams=2),
            "ort-cuda graph nhwc b8": ORT(provider="cuda", batch_size=8, cuda_graph=True, prefer_nhwc=True),
            "torch-cuda fp16 graphs x2 b8": Torch(
                device="cuda", fp16=True, num_streams=2, batch_size=8, cuda_graphs=True
            ),
            "trt fp16 x2 b8": TRT(
                fp16=True, num_streams=2, batch_size=8, cache_dir=str(settings.work / "engines")
            ),
        }
    return out


def run(settings: Settings, peaks: dict[str, Any]) -> list[Record]:
    """Model-only and pipeline throughput per model × backend configuration × resolution, and the overhead."""
    import torch
    import vapoursynth as vs

    vs.core.num_threads = settings.threads
    records: list[Record] = []
    side = 16 * settings.pipeline_rf
    for model in settings.pipeline_models:
        for label, backend in configs(settings, torch.cuda.is_available()).items():
            base = {
                "section": "pipeline",
                "model": model,
                "rf": settings.pipeline_rf,
                "side": side,
                "backend": label,
            }
            try:
                path = _artifact(model, backend, settings)
                model_s, frames = _model_only(backend, path, side, settings)
            except (vs.Error, ImportError, RuntimeError) as exc:
                records.append(skipped(base, str(exc).splitlines()[0]))
                continue
            records.append({**base, "resolution": "model only", **throughput(model_s), "frames": frames})
            for res, (w, h) in RESOLUTIONS.items():
                pipe_s, _ = _pipeline(path, backend, w, h, frames, settings)
                overhead = pipe_s / model_s - 1
                log.info(
                    "pipeline %s %s %s: %.2f fps, overhead %+.1f %%",
                    model,
                    label,
                    res,
                    1 / pipe_s,
                    100 * overhead,
                )
                records.append(
                    {**base, "resolution": res, **throughput(pipe_s), "frames": frames, "overhead": overhead}
                )
    records += _vs_side(settings)
    return records


def _artifact(model: str, backend: Any, settings: Settings) -> Path:
    """The artifact this backend loads: the fp16 ONNX on GPUs, a ``.pt2`` for torch, else the fp32 ONNX."""
    if backend.formats[0] == "pt2":
        return _pt2(model, settings)
    return onnx_artifact(model, settings, fp16=backend.gpu and backend.name == "ort")


def _pt2(model: str, settings: Settings) -> Path:
    """The fp16 ``torch.export`` artifact of :func:`~.common.generator` for the Torch backend, cached in ``work``."""
    from vs_colorize.export import to_pt2

    lo, hi = settings.side_range
    path = settings.work / f"{model}-{lo}-{hi}-fp16.pt2"
    if not path.exists():
        dynamic = (lo, hi) if hi > lo else None
        to_pt2(generator(model), path, render_size=lo, dynamic=dynamic, fp16=True, check=False)
    return path


def _model_only(backend: Any, path: Path, side: int, settings: Settings) -> tuple[float, int]:
    """Seconds per frame of the backend alone, in its stream configuration, and the frame count to use."""
    from vs_colorize.core.contract import read_model_info, read_sidecar

    if not hasattr(backend, "open"):  # vs-mlrt: the plugin on a blank clip, through VapourSynth's own threads
        return _mlrt_only(backend, path, side, settings)
    info = read_sidecar(path) if path.suffix == ".pt2" else read_model_info(path)
    batch = getattr(backend, "batch_size", 1)
    shape = (batch, 3, side, side)
    sessions = [backend.open(path, info, shape) for _ in range(backend.num_streams)]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    start = time.perf_counter()
    for s in sessions:  # warm-up, also a first estimate of the speed
        s(x)
    first = (time.perf_counter() - start) / len(sessions) / batch
    frames = _frames(first, backend.num_streams * batch, settings)
    per = frames // (len(sessions) * batch)  # calls per session

    def work(session: Any) -> None:
        for _ in range(per):
            session(x)

    threads = [threading.Thread(target=work, args=(s,)) for s in sessions]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return (time.perf_counter() - start) / (per * len(sessions) * batch), per * len(sessions) * batch


def _mlrt_only(backend: Any, path: Path, side: int, settings: Settings) -> tuple[float, int]:
    node = blank_render(backend, path, side)
    start = time.perf_counter()
    node.get_frame(0)
    frames = _frames(time.perf_counter() - start, backend.num_streams, settings)
    return _render(node[1 : 1 + frames], skip=backend.num_streams)[0], frames


def _frames(seconds_per_frame: float, streams: int, settings: Settings) -> int:
    """Frames to time: enough for every stream to be busy, few enough to stay within the run's budget."""
    fit = int(settings.budget_s / max(seconds_per_frame, 1e-6))
    frames = max(4 * streams, 8, min(settings.frames, fit))
    return frames - frames % streams


def _pipeline(
    path: Path, backend: Any, width: int, height: int, frames: int, settings: Settings
) -> tuple[float, float]:
    """Seconds per frame of the whole filter at ``width``×``height`` written to a null sink (steady state), and
    the process's CPU seconds per frame (see :func:`_render`)."""
    import vapoursynth as vs

    from vs_colorize import colorize

    core = vs.core
    warm = max(1, backend.num_streams) * getattr(backend, "batch_size", 1)
    # One kept blank frame: the source costs nothing, so the numbers are the filter's alone (a dense network
    # costs the same on any picture).
    src = core.std.BlankClip(
        width=width, height=height, format=vs.YUV420P8, length=warm + frames, color=[90, 110, 150], keep=True
    )
    out = colorize(src, path, settings.pipeline_rf, backend)
    for n in range(warm):
        out.get_frame(n)
    return _render(out[warm:], skip=warm)


def _render(clip: Any, skip: int) -> tuple[float, float]:
    """Seconds per frame of writing ``clip`` to ``/dev/null`` with ``clip.output`` (as vspipe does), and CPU seconds.

    Frame completions are stamped (wall clock and this process's CPU time, all threads) through
    ``progress_update``; the frames completed after the ``skip``-th completion, over the time they took, leave out
    the start-up of VapourSynth's output threads (tenths of a second, which would dominate a short run of a fast
    model). Streams finishing together are counted right.
    """
    stamps: list[tuple[float, float]] = []
    with open(os.devnull, "wb") as sink:
        clip.output(
            sink,
            progress_update=lambda done, total: stamps.append((time.perf_counter(), time.process_time())),
        )
    done = stamps[-clip.num_frames :]  # output() also reports 0 before the first frame
    skip = max(1, min(skip, len(done) // 2))
    frames = len(done) - skip
    return (done[-1][0] - done[skip - 1][0]) / frames, (done[-1][1] - done[skip - 1][1]) / frames


def _vs_side(settings: Settings) -> list[Record]:
    """The pipeline around an identity model: the VapourSynth side's own cost per frame."""
    from vs_colorize.backends import ORT

    path = _identity(settings.work / "identity.onnx")
    backend = ORT(provider="cpu", intra_op_threads=1, num_streams=settings.threads)  # VS side: all cores
    out = []
    for res, (w, h) in RESOLUTIONS.items():
        s, cpu = _pipeline(path, backend, w, h, 10 * settings.frames, settings)  # ~1 s: plenty of frames
        log.info("pipeline identity %s: %.1f fps", res, 1 / s)
        base = {
            "section": "pipeline",
            "model": "identity",
            "rf": settings.pipeline_rf,
            "backend": f"ort-cpu 1x{settings.threads}",
        }
        out.append({**base, "resolution": res, **throughput(s), "cpu_ms": 1000 * cpu})
    return out


def _identity(path: Path) -> Path:
    """A colorize artifact whose output is its input (dynamic size), built with ``onnx.helper``."""
    if path.exists():
        return path
    import onnx
    from onnx import TensorProto, helper

    from vs_colorize.core.contract import ModelInfo

    io = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3, "H", "W"]) for n in ("input", "output")
    ]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"])], "identity", io[:1], io[1:]
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    proto.ir_version = 9
    helper.set_model_props(
        proto, ModelInfo(kind="colorize", arch="identity", dynamic_range=(16, 4096)).to_props()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, path)
    return path
