"""``vs-colorize-export deoldify``: DeOldify's published generators → registry ONNX artifacts.

Gets the weights (download into the cache, or a local file), checks them (size, strict state-dict load)
and exports dynamic-size fp32 and fp16 ONNX to ``cache.registry_model_path(name, precision)``, where the
colorize filter finds them by name.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from vs_colorize.core import cache
from vs_colorize.core.contract import sidecar_path

from .errors import ExportError
from .onnx import to_onnx
from .pt2 import to_pt2
from .weights import check_size, fetch_deoldify, weights_source

log = logging.getLogger(__name__)

#: Default side range the registry artifacts accept (render_factor 4..64).
DEFAULT_RENDER_RANGE: tuple[int, int] = (64, 1024)


def export_deoldify(
    name: str,
    *,
    weights: str | os.PathLike[str] | None = None,
    render_range: tuple[int, int] = DEFAULT_RENDER_RANGE,
    precisions: tuple[str, ...] = ("fp32", "fp16"),
    overwrite: bool = False,
    threads: int = 2,
    urls: tuple[str, ...] | None = None,
    pt2: bool = False,
) -> list[Path]:
    """Export DeOldify generator ``name`` ("video", "stable", "artistic") into the model registry.

    Args:
        name: which published generator.
        weights: a local ``*_gen.pth``; default: the cached download (fetched if missing).
        render_range: (min_side, max_side) of the dynamic ONNX, multiples of 16 (default 64..1024).
        precisions: any of "fp32", "fp16" (default both).
        overwrite: replace existing registry artifacts.
        threads: ONNX Runtime threads for the parity checks.
        urls: mirrors to download from instead of the published ones.
        pt2: also write the fp32 ``torch.export`` program ``<name>-fp32.pt2`` (+ ``.json`` sidecar) for
            the filter's torch backend, which halves it itself on CUDA.

    Returns:
        The artifact paths written: ONNX in ``precisions`` order, then the ``.pt2``.

    Raises:
        ExportError: bad arguments, a missing/foreign/truncated weights file, a download failure
        (DownloadError, whose message says where to put the file by hand) or a parity failure;
        FileExistsError: an artifact exists and ``overwrite`` is false.
    """
    from vs_colorize.training.checkpoint import CheckpointError, load_generator

    source = weights_source(name)
    bad = [p for p in precisions if p not in ("fp32", "fp16")]
    if bad or not precisions:
        raise ExportError(
            f"deoldify: precisions must be a non-empty subset of ('fp32', 'fp16'), got {precisions}"
        )
    targets = [cache.registry_model_path(name, p) for p in precisions]
    pt2_target = cache.registry_model_path(name, "fp32").with_suffix(".pt2")
    for target in [*targets, *([pt2_target, sidecar_path(pt2_target)] if pt2 else [])]:
        if target.exists() and not overwrite:
            raise FileExistsError(f"deoldify: {os.fspath(target)!r} exists; pass --overwrite to replace it")
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise ExportError(f"deoldify: --weights {os.fspath(path)!r} does not exist")
        check_size(path, source)
    else:
        path = fetch_deoldify(name, urls=urls)
    try:
        model = load_generator(path, name, identify=True)
    except CheckpointError as exc:
        hint = "" if weights is not None else f"; delete {os.fspath(path)!r} and run again to re-download"
        raise ExportError(f"deoldify: {exc}{hint}") from exc
    written = []
    for precision, target in zip(precisions, targets, strict=True):
        to_onnx(
            model,
            target,
            render_size=16 * source.render_factor,
            dynamic=render_range,
            fp16=precision == "fp16",
            arch=name,
            overwrite=overwrite,
            threads=threads,
        )
        written.append(target)
    if pt2:
        to_pt2(
            model,
            pt2_target,
            render_size=16 * source.render_factor,
            dynamic=render_range,
            arch=name,
            overwrite=overwrite,
        )
        written.append(pt2_target)
    return written
