"""Export package: trained generators → ONNX (fp32/fp16), ``.pt2`` programs and TensorRT engines, with
parity reports.

Public API (imported on first use, so ``python -m export --help`` stays fast)::

    from export import to_onnx, to_pt2, verify, export_deoldify, ExportError, ParityError
"""

from __future__ import annotations

import importlib
from typing import Any

_API = {
    "to_onnx": "export.onnx",
    "to_pt2": "export.pt2",
    "verify": "export.parity",
    "export_deoldify": "export.deoldify",
    "ExportError": "export.errors",
    "ParityError": "export.errors",
    "DownloadError": "export.errors",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'export' has no attribute {name!r}")
