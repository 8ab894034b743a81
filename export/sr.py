"""Super-resolution export: an SR training checkpoint → a ``superres`` ONNX artifact.

The ``superres`` kind itself (wrapper, channel counts, scale, window) is registered in :mod:`vs_colorize.export.kinds`.

``vs-colorize-export superres CHECKPOINT OUT.onnx [--dynamic 16 1024 | --static SIDE] [--fp16]``.
"""

from __future__ import annotations

import logging
import os

from vs_colorize.core.contract import ModelInfo
from vs_colorize.core.fileio import sha256_file
from vs_colorize.training.checkpoint import meta_of, read_checkpoint, sr_from_record, sr_record

from .onnx import to_onnx

log = logging.getLogger("export")

#: LR side range a superres artifact is exported for by default (tiles in the filter keep inputs inside it).
DEFAULT_DYNAMIC: tuple[int, int] = (16, 1024)


def export_checkpoint(
    checkpoint: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    dynamic: tuple[int, int] | None = DEFAULT_DYNAMIC,
    size: int | tuple[int, int] = 64,
    fp16: bool = False,
    overwrite: bool = False,
    check: bool = True,
) -> ModelInfo:
    """Export an SR training checkpoint to a superres ONNX artifact (parity-checked against torch).

    Args:
        checkpoint: ``checkpoint.pt`` written by ``vs_colorize.training.sr``.
        path: output ``.onnx``.
        dynamic: (min, max) LR side range, multiples of the net's ``multiple`` (default 16..1024); None = static.
        size: static LR size (with ``dynamic=None``) or the trace size.
        fp16: float16 weights and compute (float32 I/O).
        overwrite: replace an existing ``path``.
        check: ONNX Runtime vs torch parity check before the file is kept.
    """
    where = f"export_checkpoint: {os.fspath(checkpoint)!r}"
    record = sr_record(read_checkpoint(checkpoint, "export_checkpoint"), where)
    model = sr_from_record(record, where).eval()
    meta = meta_of(record)
    norm = meta.get("normalize")
    log.info("exporting %s (%s steps)", model.config.arch, meta.get("step"))
    return to_onnx(
        model,
        path,
        render_size=size,
        dynamic=dynamic,
        fp16=fp16,
        kind="superres",
        arch=model.config.arch,
        source_sha256=sha256_file(checkpoint),
        overwrite=overwrite,
        check=check,
        percentiles=None if norm is None else (float(norm[0]), float(norm[1])),
    )
