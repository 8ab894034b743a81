"""Turn a torch network into the module that is exported, and trace it with ``torch.export``.

A *kind* (:mod:`vs_colorize.export.kinds`) decides the wrapper put around the network so that the artifact has the
runtime's tensor contract (DESIGN.md §2), the channel counts written into the metadata and the inputs used
for tracing and parity checks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from vs_colorize._version import __version__
from vs_colorize.core.contract import ModelInfo
from vs_colorize.training.archs import bake_norms

from .errors import ExportError
from .kinds import KindSpec, kind_spec

log = logging.getLogger(__name__)

#: Largest batch a dynamic-batch artifact is traced for.
MAX_BATCH = 64


class HalfPrecision(nn.Module):
    """Run a wrapped module in float16 with float32 input and output (fp16 ``.pt2`` artifacts)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner.half()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.inner(x.half())
        return y.float()


@dataclass(frozen=True)
class Geometry:
    """Spatial sizes of an export: either ``static_size`` or ``dynamic_range`` is set.

    ``trace_size`` is the (H, W) the graph is traced at.
    """

    static_size: tuple[int, int] | None
    dynamic_range: tuple[int, int] | None
    trace_size: tuple[int, int]

    @property
    def smallest(self) -> tuple[int, int]:
        """The cheapest accepted input size (used to probe the model before exporting)."""
        if self.static_size is not None:
            return self.static_size
        assert self.dynamic_range is not None  # set exactly when static_size is not
        lo = self.dynamic_range[0]
        return (lo, lo)


def _side(value: object, name: str, multiple: int, func: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ExportError(f"{func}: {name} must be an int, got {value!r}")
    if value < multiple or value % multiple:
        raise ExportError(f"{func}: {name} must be a positive multiple of {multiple}, got {value}")
    return value


def resolve_geometry(
    render_size: int | tuple[int, int],
    dynamic: tuple[int, int] | None,
    multiple: int,
    func: str,
) -> Geometry:
    """Validate ``render_size`` / ``dynamic`` and choose the trace size.

    With ``dynamic=(min, max)`` the graph accepts every side in that range that is a multiple of
    ``multiple``; it is traced at ``render_size`` moved into the range and, where the range allows, made an
    *odd* multiple of ``multiple`` so that U-Net skip-resize branches (taken when a side is not a multiple
    of 2·``multiple``) are part of the trace.
    """
    if dynamic is not None:
        if len(dynamic) != 2:
            raise ExportError(f"{func}: dynamic must be (min_side, max_side), got {dynamic!r}")
        lo = _side(dynamic[0], "dynamic min_side", multiple, func)
        hi = _side(dynamic[1], "dynamic max_side", multiple, func)
        if lo > hi:
            raise ExportError(f"{func}: dynamic min_side must be <= max_side, got {dynamic!r}")
        want = render_size if isinstance(render_size, int) else max(render_size)
        steps = min(max(want, lo), hi) // multiple
        if steps % 2 == 0:
            steps += 1 if (steps + 1) * multiple <= hi else -1
        side = max(steps * multiple, lo)
        return Geometry(None, (lo, hi), (side, side))
    size = (render_size, render_size) if isinstance(render_size, int) else render_size
    if not isinstance(size, tuple | list) or len(size) != 2:
        raise ExportError(f"{func}: render_size must be an int or (H, W), got {render_size!r}")
    h = _side(size[0], "render_size", multiple, func)
    w = _side(size[1], "render_size", multiple, func)
    return Geometry((h, w), None, (h, w))


def arch_name(model: nn.Module) -> str:
    """The architecture/preset name a network describes itself with (``model.config.name``…)."""
    config = getattr(model, "config", None)
    for attr in ("name", "preset", "arch"):
        value = getattr(config, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__.lower()


def _require_module(model: object, func: str) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise ExportError(f"{func}: model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def prepare(
    model: nn.Module, spec: KindSpec, *, fp16: bool = False, func: str = "export", align: int | None = None
) -> nn.Module:
    """Eval-mode copy of ``model`` with spectral/weight norm baked into plain weights, wrapped for ``spec``.

    The caller's model is left untouched. ``fp16`` wraps the result in :class:`HalfPrecision`. ``align``: pad the
    U-Net's full-resolution merge to a multiple of this many channels (:func:`vs_colorize.export.align.align_channels`).
    """
    baked = bake_norms(_require_module(model, func))
    if align is not None:
        from .align import align_channels

        for report in align_channels(baked, align):
            if report.padded:
                log.info("%s: merge channels %d → %d (zero-padded)", func, report.channels, report.aligned)
    wrapped = spec.wrap(baked).eval()
    for p in wrapped.parameters():
        p.requires_grad_(False)
    return HalfPrecision(wrapped).eval() if fp16 else wrapped


def reference_module(model: nn.Module, spec: KindSpec, func: str = "verify") -> nn.Module:
    """The torch side of a parity check: ``model`` itself (no baking) wrapped for ``spec``, eval mode."""
    return spec.wrap(_require_module(model, func)).eval()


def check_output_shape(module: nn.Module, spec: KindSpec, size: tuple[int, int], func: str) -> None:
    """Run ``module`` once at ``size`` and fail with a clear message if it is not a ``spec.kind`` model."""
    x = spec.example(1, *size)
    with torch.no_grad():
        try:
            y = module(x)
        except (RuntimeError, ValueError, TypeError) as exc:
            raise ExportError(
                f"{func}: model fails on a {tuple(x.shape)} input; is it a {spec.kind} model? ({exc})"
            ) from exc
    want = spec.output_shape(1, *size)
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != want:
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ExportError(
            f"{func}: model maps {tuple(x.shape)} to {got}, expected {want} for a {spec.kind} model"
        )


def trace(module: nn.Module, spec: KindSpec, geometry: Geometry, func: str) -> torch.export.ExportedProgram:
    """``torch.export`` the prepared module with a dynamic batch and, if requested, dynamic H/W.

    Raises ExportError when the network cannot be traced for the whole requested range (for example a
    shape-dependent branch that would otherwise be silently frozen into the graph).
    """
    h, w = geometry.trace_size
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    dims: dict[int, object] = {0: batch}
    if geometry.dynamic_range is not None:
        lo, hi = geometry.dynamic_range
        m = spec.multiple
        dims[2] = m * torch.export.Dim("h", min=lo // m, max=hi // m)
        dims[3] = m * torch.export.Dim("w", min=lo // m, max=hi // m)
    try:
        return torch.export.export(module, (spec.example(2, h, w),), dynamic_shapes={"x": dims}, strict=False)
    except Exception as exc:  # torch raises several unrelated types for untraceable models
        raise ExportError(f"{func}: torch.export failed for {spec.kind} at {h}x{w}: {exc}") from exc


def model_info(
    kind: str,
    arch: str,
    geometry: Geometry,
    *,
    fp16: bool,
    opset: int,
    source_sha256: str | None,
    func: str,
    model: nn.Module | None = None,
) -> ModelInfo:
    """The metadata record for an artifact (shared by ONNX and ``.pt2`` exports)."""
    spec = kind_spec(kind, func, model)
    return ModelInfo(
        kind=spec.kind,
        arch=arch,
        precision="fp16" if fp16 else "fp32",
        static_size=geometry.static_size,
        dynamic_range=geometry.dynamic_range,
        source_sha256=source_sha256 or "",
        package_version=__version__,
        opset=opset,
        **spec.info_fields(),
    )
