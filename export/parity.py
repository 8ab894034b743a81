"""Parity between an exported artifact and the torch network it came from.

:func:`verify` runs the artifact (ONNX in ONNX Runtime on CPU, ``.pt2`` through ``torch.export.load`` once
:func:`vs_colorize.core.pt2.safe_pt2_bytes` has checked it) and the torch model on the same fresh random
inputs at the sizes the artifact was exported for, and writes a JSON report beside the artifact.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vs_colorize.core.contract import INPUT_NAME, ContractError, ModelInfo, read_model_info, read_sidecar
from vs_colorize.core.fileio import atomic_output
from vs_colorize.core.pt2 import Pt2Error, safe_pt2_bytes

from .errors import ExportError, ParityError
from .kinds import kind_spec
from .prepare import reference_module

log = logging.getLogger(__name__)

#: Largest abs error on [0,1] outputs an artifact may show, per precision.
TOLERANCE: dict[str, float] = {"fp32": 1e-4, "fp16": 1e-2}


@dataclass(frozen=True)
class SizeResult:
    """Errors at one input shape ``[batch, C, H, W]``."""

    shape: tuple[int, ...]
    max_abs: float
    mean_abs: float


@dataclass(frozen=True)
class ParityReport:
    """What :func:`verify` measured; ``passed`` is true when every ``max_abs <= tolerance``."""

    artifact: str
    kind: str
    arch: str
    precision: str
    tolerance: float
    runtime: str
    results: list[SizeResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.max_abs <= self.tolerance for r in self.results)

    @property
    def max_abs(self) -> float:
        """The largest error over all shapes (NaN if any output was not finite)."""
        errors = [r.max_abs for r in self.results]
        return math.nan if any(math.isnan(e) for e in errors) else max(errors, default=0.0)

    def to_json(self) -> str:
        data = asdict(self)
        for r in data["results"]:  # strict JSON has no NaN/inf; a non-finite error is reported as null
            for k in ("max_abs", "mean_abs"):
                r[k] = r[k] if math.isfinite(r[k]) else None
        data["passed"] = self.passed
        data["torch"] = torch.__version__
        data["python"] = platform.python_version()
        return json.dumps(data, indent=2)


def report_path_for(artifact: str | os.PathLike[str]) -> Path:
    """``<stem>.parity.json`` beside ``<stem>.onnx``; ``<stem>.pt2.parity.json`` beside ``<stem>.pt2``."""
    p = Path(artifact)
    return p.with_name((p.stem if p.suffix == ".onnx" else p.name) + ".parity.json")


def check_sizes(info: ModelInfo) -> list[tuple[int, int, int]]:
    """(batch, H, W) shapes a parity check runs at.

    Static: the exported size (batch 2, which also checks the dynamic batch axis). Dynamic: the minimum
    side (batch 2), a middle side that is an odd multiple of ``multiple`` where the range allows, and a
    non-square (min, middle) input.
    """
    if info.static_size is not None:
        return [(2, *info.static_size)]
    assert info.dynamic_range is not None  # set exactly when static_size is not
    lo, hi = info.dynamic_range
    m = info.multiple
    steps = (lo + hi) // 2 // m
    if steps % 2 == 0 and (steps + 1) * m <= hi:
        steps += 1
    mid = max(steps * m, lo)
    shapes = [(2, lo, lo), (1, mid, mid), (1, lo, mid)]
    return list(dict.fromkeys(shapes))


def _onnx_runner(path: Path, threads: int) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    session = ort.InferenceSession(os.fspath(path), opts, providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> np.ndarray:
        y: np.ndarray = session.run(None, {INPUT_NAME: x})[0]
        return y

    return run, f"onnxruntime {ort.__version__} CPU"


def _pt2_runner(path: Path) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    try:  # checked first, as the runtime does: a crafted archive runs no code here either
        data = safe_pt2_bytes(path, func="verify", arg="artifact")
    except Pt2Error as exc:
        raise ExportError(str(exc)) from None
    module = torch.export.load(io.BytesIO(data)).module()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            y: np.ndarray = module(torch.from_numpy(x)).numpy()
            return y

    return run, f"torch.export {torch.__version__} CPU"


def read_pt2_info(path: str | os.PathLike[str]) -> ModelInfo:
    """Metadata of a ``.pt2`` artifact, from its ``<path>.json`` sidecar; ExportError when it is missing or
    malformed."""
    try:
        return read_sidecar(path)
    except ContractError as exc:
        raise ExportError(f"verify: {exc}") from None


def verify(
    artifact: str | os.PathLike[str],
    model: nn.Module,
    *,
    info: ModelInfo | None = None,
    tolerance: float | None = None,
    seed: int = 0,
    threads: int = 2,
    report_path: str | os.PathLike[str] | None = None,
    raise_on_fail: bool = False,
    name: str | None = None,
) -> ParityReport:
    """Compare ``artifact`` (``.onnx`` or ``.pt2``) with ``model`` and write a JSON parity report.

    Args:
        artifact: the exported file; its metadata (or ``info``) gives kind, precision and sizes.
        model: the torch network it was exported from (not modified; evaluated in eval mode, fp32).
        info: metadata to use instead of reading it from the artifact.
        tolerance: max abs error allowed on the [0,1] output; default 1e-4 (fp32) or 1e-2 (fp16).
        seed: seed of the random inputs (fresh per size: seed, seed+1, …).
        threads: ONNX Runtime intra-op threads.
        report_path: where to write the report; default ``<stem>.parity.json`` beside the artifact.
        raise_on_fail: raise ParityError instead of returning a failing report.
        name: the artifact's name in the report (default: the file name; exporters verify a temporary file).

    Raises:
        ExportError: unknown artifact type, missing file or metadata; ParityError (``raise_on_fail``).
    """
    path = Path(artifact)
    if not path.is_file():
        raise ExportError(f"verify: artifact {os.fspath(path)!r} does not exist")
    if path.suffix == ".onnx":
        info = info or read_model_info(path)
        run, runtime = _onnx_runner(path, threads)
    elif path.suffix == ".pt2":
        info = info or read_pt2_info(path)
        run, runtime = _pt2_runner(path)
    else:
        raise ExportError(f"verify: artifact must be a .onnx or .pt2 file, got {os.fspath(path)!r}")
    spec = kind_spec(info.kind, "verify", model)
    tol = TOLERANCE[info.precision] if tolerance is None else tolerance
    reference = reference_module(model, spec)
    was_training = model.training
    model.eval()
    results = []
    try:
        for i, (n, h, w) in enumerate(check_sizes(info)):
            x = spec.example(n, h, w, seed=seed + i)
            with torch.no_grad():
                want = reference(x).numpy()
            got = run(x.numpy())
            if got.shape != want.shape:
                raise ParityError(
                    f"verify: {name or path.name} returned shape {got.shape}, torch {want.shape}"
                )
            err = np.abs(got.astype(np.float64) - want.astype(np.float64))
            results.append(SizeResult((n, spec.in_channels, h, w), float(err.max()), float(err.mean())))
            log.info("parity %dx%d (batch %d): max %.2e mean %.2e", h, w, n, err.max(), err.mean())
    finally:
        model.train(was_training)
    report = ParityReport(
        artifact=name or path.name,
        kind=info.kind,
        arch=info.arch,
        precision=info.precision,
        tolerance=tol,
        runtime=runtime,
        results=results,
    )
    out = Path(report_path) if report_path is not None else report_path_for(path)
    with atomic_output(out, overwrite=True) as tmp:
        tmp.write_text(report.to_json())
    if raise_on_fail and not report.passed:
        raise ParityError(
            f"verify: {info.precision} artifact differs from the torch model by {report.max_abs:.3g} "
            f"> tolerance {tol:g}; see {os.fspath(out)}"
        )
    return report
