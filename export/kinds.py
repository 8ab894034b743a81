"""Model kinds: how a network is wrapped, described and probed for export, one registered factory per kind.

A kind (``colorize``, ``superres``: :data:`vs_colorize.core.contract.KINDS`) decides the wrapper put around the
network so that the artifact has the runtime's tensor contract (DESIGN.md §2), the channel counts written into
the metadata, and the inputs used for tracing and parity checks. Adding a kind means writing one factory
``(model, func) -> KindSpec`` decorated with :func:`register_kind`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vs_colorize.core.contract import Kind
from vs_colorize.training.archs import ColorizeWrapper
from vs_colorize.training.archs.sr import SRNet

from .errors import ExportError

#: A kind's factory: the spec for one network (``None`` when only the kind is known), errors naming ``func``.
SpecFactory = Callable[[nn.Module | None, str], "KindSpec"]

_REGISTRY: dict[str, SpecFactory] = {}


def register_kind(kind: str) -> Callable[[SpecFactory], SpecFactory]:
    """Decorator: make ``factory`` the spec factory of ``kind``."""

    def add(factory: SpecFactory) -> SpecFactory:
        if kind in _REGISTRY:
            raise ValueError(f"register_kind: kind {kind!r} is registered already")
        _REGISTRY[kind] = factory
        return factory

    return add


def kind_spec(kind: str, func: str, model: nn.Module | None = None) -> KindSpec:
    """The spec of ``kind`` for ``model``, raising an error that names ``func`` and the argument."""
    try:
        factory = _REGISTRY[kind]
    except KeyError:
        raise ExportError(f"{func}: kind must be one of {tuple(_REGISTRY)}, got {kind!r}") from None
    return factory(model, func)


@dataclass(frozen=True)
class KindSpec:
    """How one model kind is wrapped, described and probed.

    ``wrap`` builds the [0,1] → [0,1] module around the network; ``in_channels``/``out_channels``/
    ``scale``/``window`` go into :class:`~vs_colorize.core.contract.ModelInfo`; input sides must be multiples
    of ``multiple``.
    """

    kind: Kind
    wrap: Callable[[nn.Module], nn.Module]
    in_channels: int
    out_channels: int
    scale: int = 1
    window: int = 1
    multiple: int = 16

    def info_fields(self) -> dict[str, int]:
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "scale": self.scale,
            "window": self.window,
            "multiple": self.multiple,
        }

    def example(self, batch: int, height: int, width: int, *, seed: int = 0) -> torch.Tensor:
        """A reproducible random input in [0,1] of shape ``[batch, in_channels, height, width]``."""
        gen = torch.Generator().manual_seed(seed)
        return torch.rand(batch, self.in_channels, height, width, generator=gen)

    def output_shape(self, batch: int, height: int, width: int) -> tuple[int, int, int, int]:
        return (batch, self.out_channels, height * self.scale, width * self.scale)


_COLORIZE = KindSpec("colorize", ColorizeWrapper, in_channels=3, out_channels=3)


@register_kind("colorize")
def _colorize_spec(model: nn.Module | None, func: str) -> KindSpec:
    """Any colorize generator: RGB in, RGB out, same size (the wrapper adds DeOldify's normalisation)."""
    return _COLORIZE


class SRWrapper(nn.Module):
    """The exported module: the SR network unchanged (its output is already the [0,1] HR frame)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x)
        return out


@register_kind("superres")
def _superres_spec(model: nn.Module | None, func: str) -> KindSpec:
    """An :class:`~vs_colorize.training.archs.sr.SRNet` already maps ``[N, window, h, w]`` in [0,1] to ``[N, 1, s·h, s·w]``
    in [0,1] (bicubic base and clamp inside the network), the runtime contract itself, so the wrapper adds
    nothing but a name; channel counts, scale, window and multiple come from the network's config."""
    if not isinstance(model, SRNet):
        got = "no model" if model is None else type(model).__name__
        raise ExportError(
            f"{func}: kind 'superres' needs a vs_colorize.training.archs.sr.SRNet model, got {got}"
        )
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
