"""Inference backends, each a frozen keyword-only dataclass in its own module, imported lazily.

* :class:`ORT` — ONNX Runtime (CPU; CUDA / TensorRT execution providers with onnxruntime-gpu).

:func:`autoselect` picks the fastest one available; :func:`get_backend` turns the filters' ``backend``
argument (None, a name or an instance) into a backend.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from ..checks import error
from .base import Backend, cuda_device_count

if TYPE_CHECKING:
    from .ort import ORT

log = logging.getLogger("vs_colorize")

_MODULES = {"ORT": ".ort"}
#: ``backend="name"`` strings and the class each one means.
NAMES = {"ort": "ORT"}

__all__ = ["NAMES", "ORT", "Backend", "autoselect", "cuda_device_count", "get_backend"]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(_MODULES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def autoselect(*, model_format: str = "onnx") -> Backend:
    """The fastest backend that can run an artifact of ``model_format`` here.

    Order: ONNX Runtime with a GPU provider, then ONNX Runtime on the CPU.
    """
    from .ort import ORT

    if model_format != "onnx":
        raise error("autoselect", f"no backend available for {model_format} artifacts")
    return ORT()


def get_backend(backend: object, *, func: str, model_format: str = "onnx") -> Backend:
    """Resolve a filter's ``backend`` argument: None (autoselect), a name from :data:`NAMES`, or an instance."""
    if backend is None:
        chosen = autoselect(model_format=model_format)
        log.info("%s: autoselected backend %r", func, chosen)
        return chosen
    if isinstance(backend, Backend):
        return backend
    if isinstance(backend, str) and backend.lower() in NAMES:
        return __getattr__(NAMES[backend.lower()])()
    raise error(
        func,
        f"backend must be None, one of {', '.join(map(repr, NAMES))} or a Backend instance, got {backend!r}",
    )
