"""Offline TensorRT engine builds for exported artifacts (``vs-colorize-export engine``).

Thin wrapper over :func:`vs_colorize.trt_engine.build_engine` that derives the optimisation profile from
the artifact's metadata. **Unverified here:** no TensorRT/CUDA on the development machines (see
``vs_colorize/trt_engine.py``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from vs_colorize.core.contract import ModelInfo, read_model_info, sidecar_path
from vs_colorize.core.fileio import atomic_output

from .errors import ExportError

Shape = tuple[int, int, int, int]


def profile_shapes(info: ModelInfo, *, opt_size: int = 336, max_batch: int = 1) -> tuple[Shape, Shape, Shape]:
    """(min, opt, max) input shapes for an artifact.

    Static artifacts get their exported size; dynamic ones span ``dynamic_range`` with ``opt_size``
    (moved into the range, rounded to ``multiple``) as the tuned size. Batch spans 1..``max_batch``.
    """
    if max_batch < 1:
        raise ExportError(f"engine: max_batch must be >= 1, got {max_batch}")
    c = info.in_channels
    if info.static_size is not None:
        h, w = info.static_size
        return (1, c, h, w), (1, c, h, w), (max_batch, c, h, w)
    assert info.dynamic_range is not None  # set exactly when static_size is not
    lo, hi = info.dynamic_range
    if opt_size < 1:
        raise ExportError(f"engine: opt_size must be >= 1, got {opt_size}")
    opt = min(max(round(opt_size / info.multiple) * info.multiple, lo), hi)
    return (1, c, lo, lo), (1, c, opt, opt), (max_batch, c, hi, hi)


def write_engine_sidecar(engine: str | os.PathLike[str], info: ModelInfo, *, fp16: bool) -> Path:
    """Write ``<engine>.json``: the ONNX artifact's metadata with the engine's precision.

    The filter reads it when it is handed an ``.engine``/``.plan`` file directly (``vs_colorize.models``).
    """
    engine_info = dataclasses.replace(info, precision="fp16" if fp16 else info.precision)
    side = sidecar_path(engine)
    with atomic_output(side, overwrite=True) as tmp:
        tmp.write_text(json.dumps(engine_info.to_props(), indent=2) + "\n")
    return side


def build(
    onnx_path: str | os.PathLike[str],
    *,
    opt_size: int = 336,
    max_batch: int = 1,
    fp16: bool = True,
    workspace_gib: float = 4,
    cache_dir: str | os.PathLike[str] | None = None,
    device_id: int = 0,
) -> Path:
    """Build (or reuse) the TensorRT engine of an exported artifact, plus its metadata sidecar.

    See :func:`profile_shapes` for the optimisation profile and :func:`write_engine_sidecar`.
    """
    from vs_colorize.trt_engine import build_engine

    path = Path(onnx_path)
    if not path.is_file():
        raise ExportError(f"engine: ONNX file {os.fspath(path)!r} does not exist")
    info = read_model_info(path)
    min_shape, opt_shape, max_shape = profile_shapes(info, opt_size=opt_size, max_batch=max_batch)
    engine = build_engine(
        path,
        min_shape=min_shape,
        opt_shape=opt_shape,
        max_shape=max_shape,
        fp16=fp16,
        workspace_gib=workspace_gib,
        cache_dir=cache_dir,
        device_id=device_id,
    )
    write_engine_sidecar(engine, info, fp16=fp16)
    return engine
