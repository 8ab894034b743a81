"""Export a network to a single-file ONNX artifact (fp32 or fp16) with vs_colorize metadata.

The artifact maps the kind's [0,1] input to its [0,1] output (DESIGN.md §2), carries
``ModelInfo.to_props()`` in ``metadata_props`` and is written atomically. :func:`to_onnx` checks parity in
ONNX Runtime before the file appears under its final name.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from vs_colorize._version import __version__
from vs_colorize.core.contract import INPUT_NAME, OUTPUT_NAME, ContractError, ModelInfo
from vs_colorize.core.fileio import atomic_output

from .errors import ExportError
from .kinds import kind_spec
from .parity import report_path_for, verify
from .prepare import arch_name, check_output_shape, model_info, prepare, resolve_geometry, trace

log = logging.getLogger(__name__)

#: Lowest opset the exported graphs are tested with (Resize/DepthToSpace semantics settle at 13+).
MIN_OPSET = 13


def _to_fp16(proto: onnx.ModelProto) -> onnx.ModelProto:
    # onnxconverter-common, not onnxruntime.transformers.float16 (which emits unsorted graphs, see
    # feasibility §3). keep_io_types keeps float32 `input`/`output` so callers never see float16.
    from onnxconverter_common import float16

    with warnings.catch_warnings(record=True) as caught:
        # one UserWarning per weight below fp16's range; the parity check judges the result instead
        warnings.simplefilter("always", UserWarning)
        converted: onnx.ModelProto = float16.convert_float_to_float16(proto, keep_io_types=True)
    if caught:
        log.info("fp16: %d values were outside float16's range and were clamped", len(caught))
    return converted


def _set_metadata(proto: onnx.ModelProto, info: ModelInfo) -> None:
    keep = [p for p in proto.metadata_props if not p.key.startswith("vs_colorize.")]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)
    for key, value in info.to_props().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "vs-colorize-export"
    proto.producer_version = __version__
    proto.doc_string = f"vs_colorize model: {info.describe()}"


def to_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    render_size: int | tuple[int, int] = 336,
    dynamic: tuple[int, int] | None = None,
    fp16: bool = False,
    opset: int = 18,
    kind: str = "colorize",
    arch: str | None = None,
    source_sha256: str | None = None,
    overwrite: bool = False,
    check: bool = True,
    threads: int = 2,
    align_channels: int | None = None,
    percentiles: tuple[float, float] | None = None,
) -> ModelInfo:
    """Export ``model`` to a single-file ONNX artifact at ``path`` and return its metadata.

    Args:
        model: the torch network (e.g. a generator from ``vs_colorize.training.archs``); it is not modified.
        path: output ``.onnx`` file; a ``<stem>.parity.json`` report is written beside it.
        render_size: static side length or (H, W), multiples of 16; DeOldify renders at 16·render_factor
            (default 336 = render_factor 21). With ``dynamic`` it only picks the trace size.
        dynamic: (min_side, max_side), multiples of 16: export one graph for every side in that range
            (multiples of 16) instead of a static size.
        fp16: convert weights and compute to float16 (input/output stay float32).
        opset: ONNX opset, >= 13 (default 18).
        kind: artifact kind, one registered in :mod:`vs_colorize.export.kinds` (default "colorize").
        arch: architecture name written into the metadata (default: ``model.config.name``).
        source_sha256: sha256 of the weights file the model came from, recorded in the metadata
            (default: ``model.source_sha256`` as set by ``vs_colorize.training.checkpoint.load_generator``).
        overwrite: replace an existing file at ``path``.
        check: run :func:`vs_colorize.export.verify` (ONNX Runtime vs torch) and refuse to keep a failing artifact.
        threads: ONNX Runtime intra-op threads for the parity check.
        percentiles: ``(pmin, pmax)`` of the per-window percentile normalisation a superres model was trained
            with (its checkpoint's ``normalize``), written into the metadata (default None: raw [0, 1]).
        align_channels: zero-pad the U-Net's full-resolution merge to a multiple of this many channels (8 for
            fp16 tensor cores; :mod:`vs_colorize.export.align`), same function; the MAC cost is logged. None: as trained.

    Raises:
        ExportError: bad arguments or a model that is not of ``kind``; ParityError when the parity check
            fails (the artifact is not kept, the report is); FileExistsError when ``path`` exists and
            ``overwrite`` is false.
    """
    func = "to_onnx"
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{func}: {os.fspath(path)!r} exists; pass overwrite=True to replace it")
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise ExportError(f"{func}: opset must be an int >= {MIN_OPSET}, got {opset!r}")
    spec = kind_spec(kind, func, model)
    geometry = resolve_geometry(render_size, dynamic, spec.multiple, func)
    module = prepare(model, spec, func=func, align=align_channels)
    check_output_shape(module, spec, geometry.smallest, func)
    if align_channels is not None:
        from .align import padding_cost

        padding_cost(prepare(model, spec, func=func), module, spec.example(1, *geometry.smallest))
    info = model_info(
        kind,
        arch or arch_name(model),
        geometry,
        fp16=fp16,
        opset=opset,
        source_sha256=source_sha256 or getattr(model, "source_sha256", None),
        func=func,
        model=model,
    )
    if percentiles is not None:
        try:
            info = dataclasses.replace(info, norm_pmin=float(percentiles[0]), norm_pmax=float(percentiles[1]))
        except ContractError as exc:
            raise ExportError(f"{func}: percentiles: {exc}") from None

    started = time.monotonic()
    log.info("exporting %s to ONNX (opset %d) …", info.describe(), info.opset)
    program = trace(module, spec, geometry, func)
    try:
        onnx_program = torch.onnx.export(
            program,
            (),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamo=True,
            external_data=False,
            opset_version=opset,
            verbose=False,
        )
    except Exception as exc:  # the exporter raises its own error hierarchy
        raise ExportError(f"{func}: ONNX conversion failed: {exc}") from exc
    assert onnx_program is not None  # dynamo=True without a file name always returns the program
    proto = onnx_program.model_proto
    if fp16:
        log.info("converting to fp16 …")
        proto = _to_fp16(proto)
    _set_metadata(proto, info)
    log.info("graph ready in %.1f s", time.monotonic() - started)

    with atomic_output(path, overwrite=overwrite) as tmp:
        onnx.save_model(proto, tmp)
        onnx.checker.check_model(os.fspath(tmp))
        if check:
            verify(
                tmp,
                model,
                info=info,
                threads=threads,
                report_path=report_path_for(path),
                raise_on_fail=True,
                name=path.name,
            )
    log.info("wrote %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return info
