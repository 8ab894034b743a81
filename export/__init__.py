"""Export package: trained generators → ONNX (fp32/fp16), ``.pt2`` programs and TensorRT engines, with
parity reports.

Public API (imported on first use, so ``python -m vs_colorize.export --help`` stays fast)::

    from vs_colorize.export import to_onnx, to_pt2, verify, export_deoldify, ExportError, ParityError
"""

from __future__ import annotations

from typing import Any

from vs_colorize.core.lazy import lazy_attribute

_API = {
    "to_onnx": "vs_colorize.export.onnx",
    "to_pt2": "vs_colorize.export.pt2",
    "verify": "vs_colorize.export.parity",
    "export_deoldify": "vs_colorize.export.deoldify",
    "ExportError": "vs_colorize.export.errors",
    "ParityError": "vs_colorize.export.errors",
    "DownloadError": "vs_colorize.export.errors",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _API, name)
