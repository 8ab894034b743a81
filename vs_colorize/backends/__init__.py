"""Inference backends, each a frozen keyword-only dataclass in its own module, imported lazily.

* :class:`ORT` — ONNX Runtime (CPU; CUDA / TensorRT execution providers with onnxruntime-gpu).
* :class:`TRT` — native TensorRT engines (:mod:`vs_colorize.trt_engine`).
* :class:`MLRT` — vs-mlrt's plugins (``core.ort`` / ``core.ov`` / ``core.trt``): the model runs as a
  VapourSynth filter.
* :class:`Torch` — ``torch.export`` artifacts (``.pt2``) on CPU or CUDA.

:func:`autoselect` picks the fastest one available; :func:`get_backend` turns the filters' ``backend``
argument (None, a name or an instance) and the user's overrides (``num_streams=…``) into a backend. The contract
every backend keeps — :meth:`Backend.apply` with tiling, sessions and streams decided inside — is in
:mod:`.base`; the per-frame node of the Python-driven backends in :mod:`.session`; tile planning in :mod:`.tiles`.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
from typing import TYPE_CHECKING, Any, TypedDict

import vapoursynth as vs

from ..checks import error
from ..core.contract import Kind
from .base import Backend, Job, SessionBackend, cuda_device_count

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
    "Job",
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


def autoselect(*, model_format: str = "onnx", kind: Kind = "colorize") -> Backend:
    """The fastest backend that can run an artifact of ``model_format`` (``onnx``, ``engine``, ``pt2``) here,
    for a model of ``kind`` (it decides the CPU layout, see :func:`cpu_layout`).

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
    layout = cpu_layout(kind)
    return ORT(provider="cpu", num_streams=layout["num_streams"], intra_op_threads=layout["intra_op_threads"])


class CpuLayout(TypedDict):
    """ORT CPU keyword arguments: sessions and threads per session."""

    num_streams: int
    intra_op_threads: int


def cpu_layout(kind: Kind = "colorize") -> CpuLayout:
    """How the ONNX Runtime CPU backend spreads over this process's cores: ``num_streams`` and ``intra_op_threads``.

    ``colorize``: two sessions, each with half the cores (one thread each on a 2-core machine), capped by
    ``core.num_threads``. Measured with ``scripts/bench.py`` on 2 cores (docs/benchmarks.md), colorize at 1080p:
    two one-thread sessions ran ``tiny`` 1.35× faster than one two-thread session (small layers parallelise poorly
    inside one session) and ``video`` as fast, and twice as fast as one one-thread session (the class defaults,
    which use one core).

    ``superres``: the same threads in one session. A whole-frame SR session is big: ONNX Runtime's arena held
    about 17 GiB for a 1024² → 4096² frame of the default 4× model (docs/benchmarks.md), so a second stream could
    exhaust the machine's memory, while the filter's own work around the model stays negligible there.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    streams = max(1, min(2, cores, vs.core.num_threads))
    threads = max(1, cores // streams)
    if kind == "superres":
        return {"num_streams": 1, "intra_op_threads": streams * threads}
    return {"num_streams": streams, "intra_op_threads": threads}


def get_backend(
    backend: object, *, func: str, model_format: str = "onnx", kind: Kind = "colorize", **overrides: Any
) -> Backend:
    """Resolve a filter's ``backend`` argument and the user's settings into the backend that will run.

    Args:
        backend: None (:func:`autoselect` for ``model_format`` and ``kind``), a name from :data:`NAMES`, or an
            instance (returned as it is when there are no overrides).
        func: the asking function, named in errors and log lines.
        model_format: the artifact's format (:func:`vs_colorize.models.model_format` of the filter's ``model``).
        kind: the model kind, ``colorize`` or ``superres`` (autoselection only).
        overrides: settings that replace the chosen backend's, e.g. ``num_streams=4`` (the CLI's ``--streams``);
            each must be a field of the chosen backend, checked like the constructor's arguments.
    """
    if backend is None:
        chosen = autoselect(model_format=model_format, kind=kind)
    elif isinstance(backend, Backend):
        chosen = backend
    elif isinstance(backend, str) and backend.lower() in NAMES:
        chosen = __getattr__(NAMES[backend.lower()])()
    else:
        raise error(
            func,
            f"backend must be None, one of {', '.join(map(repr, NAMES))} or a Backend instance, got {backend!r}",
        )
    if overrides:
        fields = {f.name for f in dataclasses.fields(chosen)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise error(
                func,
                f"backend {type(chosen).__name__} has no setting {unknown[0]!r} (it has {', '.join(sorted(fields))})",
            )
        chosen = dataclasses.replace(chosen, **overrides)
    if backend is None:
        log.info("%s: autoselected backend %r", func, chosen)
    return chosen
