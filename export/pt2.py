"""Export a network as a ``torch.export`` program (``.pt2``) for the filter's torch backend.

The program is the same [0,1] → [0,1] wrapper as the ONNX artifact, so the runtime can run it with
``torch.export.load(path).module()`` without importing ``training``. Its metadata lives in a sidecar
``<path>.json`` holding ``ModelInfo.to_props()``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch
from torch import nn

from vs_colorize.core.contract import ModelInfo, sidecar_path
from vs_colorize.core.fileio import atomic_output

from .kinds import kind_spec
from .parity import report_path_for, verify
from .prepare import arch_name, check_output_shape, model_info, prepare, resolve_geometry, trace

log = logging.getLogger(__name__)


def to_pt2(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    render_size: int | tuple[int, int] = 336,
    dynamic: tuple[int, int] | None = None,
    fp16: bool = False,
    kind: str = "colorize",
    arch: str | None = None,
    source_sha256: str | None = None,
    overwrite: bool = False,
    check: bool = True,
    align_channels: int | None = None,
) -> ModelInfo:
    """Save ``torch.export`` of the [0,1] → [0,1] wrapper around ``model`` to ``path`` (+ ``<path>.json``).

    Arguments as for :func:`vs_colorize.export.to_onnx`; ``fp16`` runs the network in float16 with float32 input and
    output (meant for CUDA; CPU float16 is slow). With ``check`` the saved program is reloaded and
    compared with ``model`` (report ``<stem>.parity.json``) before it is kept.

    Raises:
        ExportError: bad arguments or model; ParityError on a parity failure (nothing is kept);
            FileExistsError when ``path`` or its sidecar exists and ``overwrite`` is false.
    """
    func = "to_pt2"
    path = Path(path)
    meta = sidecar_path(path)
    for p in (path, meta):
        if p.exists() and not overwrite:
            raise FileExistsError(f"{func}: {os.fspath(p)!r} exists; pass overwrite=True to replace it")
    spec = kind_spec(kind, func, model)
    geometry = resolve_geometry(render_size, dynamic, spec.multiple, func)
    module = prepare(model, spec, fp16=fp16, func=func, align=align_channels)
    check_output_shape(module, spec, geometry.smallest, func)
    info = model_info(
        kind,
        arch or arch_name(model),
        geometry,
        fp16=fp16,
        opset=0,
        source_sha256=source_sha256 or getattr(model, "source_sha256", None),
        func=func,
        model=model,
    )
    log.info("exporting %s %s with torch.export …", info.kind, info.arch)
    program = trace(module, spec, geometry, func)
    with atomic_output(path, overwrite=overwrite) as tmp:
        torch.export.save(program, tmp)
        if check:
            verify(
                tmp, model, info=info, report_path=report_path_for(path), raise_on_fail=True, name=path.name
            )
        with atomic_output(meta, overwrite=overwrite) as tmp_meta:
            tmp_meta.write_text(json.dumps(info.to_props(), indent=2))
    log.info("wrote %s and %s", path, meta.name)
    return info
