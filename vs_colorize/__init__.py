"""vs-colorize: DeOldify-style colorization and 3-frame microscopy super-resolution for VapourSynth.

The top level is lazy: ``import vs_colorize`` loads nothing but the version. The filters (and with them
VapourSynth) load on first use of ``vs_colorize.colorize`` / ``vs_colorize.superres``, so the pure core
(``vs_colorize.core``: the artifact contract, the cache layout, atomic file IO), ``export`` and
``training`` import on machines without VapourSynth. Inference backends (onnxruntime, TensorRT, torch,
vs-mlrt) load the first time they are used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .filters.colorize import colorize
    from .filters.superres import superres

__all__ = ["__version__", "colorize", "superres"]

#: Public name → module that defines it (imported on first access).
_LAZY = {"colorize": ".filters.colorize", "superres": ".filters.superres"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
