"""Super-resolution export: the ``superres`` kind for :func:`export.to_onnx` and a checkpoint → ONNX helper.

An :class:`~training.archs.sr.SRNet` already maps ``[N, window, h, w]`` in [0,1] to ``[N, 1, s·h, s·w]`` in
[0,1] (bicubic base + clamp inside the network), which is exactly the runtime contract (DESIGN.md §2), so the
export wrapper adds nothing but a name. The kind's channel counts, ``scale``, ``window`` and ``multiple`` are
read from the network's config, which is why the spec is built per model (:func:`sr_spec`).

``vs-colorize-export superres CHECKPOINT OUT.onnx [--dynamic 16 1024 | --static SIDE] [--fp16]``.
"""

from __future__ import annotations

import logging
import os

from torch import Tensor, nn

from training.archs.sr import SRNet
from training.checkpoint import meta_of, read_checkpoint, sr_from_record, sr_record
from vs_colorize.cache import sha256_file
from vs_colorize.contract import ModelInfo

from .errors import ExportError
from .prepare import KindSpec

log = logging.getLogger("export")

#: LR side range a superres artifact is exported for by default (tiles in the filter keep inputs inside it).
DEFAULT_DYNAMIC: tuple[int, int] = (16, 1024)


class SRWrapper(nn.Module):
    """The exported module: the SR network unchanged (its output is already the [0,1] HR frame)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def sr_spec(model: nn.Module | None, func: str) -> KindSpec:
    """The ``superres`` :class:`~export.prepare.KindSpec` of ``model`` (an :class:`SRNet`)."""
    if not isinstance(model, SRNet):
        got = "no model" if model is None else type(model).__name__
        raise ExportError(f"{func}: kind 'superres' needs a training.archs.sr.SRNet model, got {got}")
    cfg = model.config
    return KindSpec(
        "superres",
        SRWrapper,
        in_channels=cfg.window,
        out_channels=1,
        scale=cfg.scale,
        window=cfg.window,
        multiple=model.multiple,
    )


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
        checkpoint: ``checkpoint.pt`` written by ``training.sr``.
        path: output ``.onnx``.
        dynamic: (min, max) LR side range, multiples of the net's ``multiple`` (default 16..1024); None = static.
        size: static LR size (with ``dynamic=None``) or the trace size.
        fp16: float16 weights and compute (float32 I/O).
        overwrite: replace an existing ``path``.
        check: ONNX Runtime vs torch parity check before the file is kept.
    """
    from .onnx import to_onnx

    where = f"export_checkpoint: {os.fspath(checkpoint)!r}"
    record = sr_record(read_checkpoint(checkpoint, "export_checkpoint"), where)
    model = sr_from_record(record, where).eval()
    log.info("exporting %s (%s steps)", model.config.arch, meta_of(record).get("step"))
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
    )
