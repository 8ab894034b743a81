"""Inference backends, each a frozen keyword-only dataclass in its own module, imported lazily.

* :class:`ORT` — ONNX Runtime (CPU; CUDA / TensorRT execution providers with onnxruntime-gpu).
* :class:`TRT` — native TensorRT engines (:mod:`vs_colorize.trt_engine`).
* :class:`MLRT` — vs-mlrt's plugins (``core.ort`` / ``core.ov`` / ``core.trt``): the model runs as a
  VapourSynth filter.
* :class:`Torch` — ``torch.export`` artifacts (``.pt2``) on CPU or CUDA.

:func:`autoselect` picks the fastest one available; :func:`get_backend` turns the filters' ``backend``
argument (None, a name or an instance) into a backend.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import TYPE_CHECKING, Any, TypedDict

import vapoursynth as vs

from ..checks import error
from .base import Backend, SessionBackend, cuda_device_count

if TYPE_CHECKING:
    from .mlrt import MLRT
    from .ort import ORT
    from .pytorch import Torch
    from .trt import TRT

log = logging.getLogger("vs_colorize")

_MODULES = {"ORT": ".ort", "TRT": ".trt", "MLRT": ".mlrt", "Torch": ".pytorch"}
#: ``backend="name"`` strings and the class each one means.
NAMES = {"ort": "ORT", "trt": "TRT", "mlrt": "MLRT", "torch": "Torch"}

__all__ = [
    "MLRT",
    "NAMES",
    "ORT",
    "TRT",
    "Backend",
    "SessionBackend",
    "Torch",
    "autoselect",
    "cpu_layout",
    "cuda_device_count",
    "get_backend",
]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(_MODULES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def autoselect(*, model_format: str = "onnx") -> Backend:
    """The fastest backend that can run an artifact of ``model_format`` (``onnx``, ``engine``, ``pt2``) here.

    For ONNX: native TensorRT (tensorrt importable and a GPU visible) > ONNX Runtime with the TensorRT or
    CUDA provider (only if a real session gets it, never from the compile-time provider list) > vs-mlrt
    ``core.trt`` on a GPU > ONNX Runtime on the CPU (laid out by :func:`cpu_layout`). vs-mlrt's CPU plugins
    run the same ONNX Runtime / OpenVINO code as the ORT backend, so on CPU-only machines the ORT backend is
    chosen and vs-mlrt is opt-in (``backend=MLRT()``). ``.pt2`` artifacts run on :class:`Torch` (CUDA if
    visible, else CPU); engines on :class:`TRT` (or vs-mlrt ``core.trt``).
    """
    from .ort import ORT, probe_gpu_provider
    from .trt import TRT, trt_available

    if model_format == "pt2":
        from .pytorch import Torch

        return Torch()
    if model_format == "engine":
        if trt_available():
            return TRT()
        if hasattr(vs.core, "trt"):
            from .mlrt import MLRT

            return MLRT(plugin="trt")
        raise error(
            "autoselect", "a TensorRT engine needs tensorrt (pip install 'vs-colorize[trt]') and a GPU"
        )
    if trt_available():
        return TRT()
    provider = probe_gpu_provider()
    if provider is not None:
        return ORT(provider=provider)
    if cuda_device_count() > 0 and hasattr(vs.core, "trt"):
        from .mlrt import MLRT

        return MLRT(plugin="trt")
    return ORT(provider="cpu", **cpu_layout())


class CpuLayout(TypedDict):
    """:func:`cpu_layout`'s answer, keyword arguments of :class:`ORT`."""

    num_streams: int
    intra_op_threads: int


def cpu_layout() -> CpuLayout:
    """How the ONNX Runtime CPU backend spreads over this process's cores: ``num_streams`` and ``intra_op_threads``.

    Two sessions, each with half the cores (one thread each on a 2-core machine), capped by ``core.num_threads``:
    small layers parallelise poorly inside one session, and the class defaults (one session, one thread) leave
    cores idle. The measured comparison (``scripts/bench.py --sections pipeline``) is in docs/benchmarks.md.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    streams = max(1, min(2, cores, vs.core.num_threads))
    return {"num_streams": streams, "intra_op_threads": max(1, cores // streams)}


def get_backend(backend: object, *, func: str, model_format: str = "onnx") -> Backend:
    """Resolve a filter's ``backend`` argument: None (autoselect), a name from :data:`NAMES`, or an instance."""
    if backend is None:
        chosen = autoselect(model_format=model_format)
        log.info("%s: autoselected backend %r", func, chosen)
        return chosen
    if isinstance(backend, Backend):
        return backend
    if isinstance(backend, str) and backend.lower() in NAMES:
        cls: type[Backend] = __getattr__(NAMES[backend.lower()])
        return cls()
    raise error(
        func,
        f"backend must be None, one of {', '.join(map(repr, NAMES))} or a Backend instance, got {backend!r}",
    )
