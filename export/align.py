"""Tensor-core channel alignment: zero-pad the U-Net's full-resolution merge to a multiple of 8 channels.

fp16 tensor-core kernels (cuDNN, TensorRT) take their fast paths when a convolution's input and output channel
counts are multiples of 8; other counts are padded inside each kernel call or fall back to slower kernels. In the
colorization U-Net only the last stage is misaligned: ``MergeDense`` concatenates the decoder's features with the
3-channel input (``256 + 3 = 259`` channels in ``video``/``stable``, ``300 + 3 = 303`` in ``artistic``), and the
``ResBlock`` (two 3×3 convolutions, ``n → n``) and the final 1×1 convolution run on those ``n`` channels at full
resolution, the most expensive pixels of the network.

:func:`align_channels` rewrites that stage of a baked (plain-``Conv2d``) generator to ``n + p`` channels: the merge
appends ``p`` zero channels, the padded convolutions get zero weights and biases for the new channels. A ReLU of
0 is 0 and a zero channel adds 0 to every sum, so the padded network computes the same function (up to the
summation order of the convolution kernels, within 1e-6 in fp32); what it costs is the extra MACs that
:func:`padding_cost` reports.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vs_colorize.training.archs.unet import UnetGenerator

from .errors import ExportError

log = logging.getLogger(__name__)


class PaddedMerge(nn.Module):
    """``cat([x, net_input], dim=1)`` followed by ``pad`` zero channels."""

    def __init__(self, pad: int) -> None:
        super().__init__()
        self.pad = pad

    def forward(self, x: Tensor, net_input: Tensor) -> Tensor:
        return F.pad(torch.cat([x, net_input], dim=1), (0, 0, 0, 0, 0, self.pad))

    def extra_repr(self) -> str:
        return f"pad={self.pad}"


@dataclass(frozen=True)
class AlignReport:
    """What :func:`align_channels` changed: the merge's channels before/after (equal when nothing was padded)."""

    channels: int
    aligned: int

    @property
    def padded(self) -> bool:
        return self.aligned != self.channels


def _padded_conv(conv: object, cin: int, cout: int, where: str) -> nn.Conv2d:
    if type(conv) is not nn.Conv2d or conv.groups != 1:
        raise ExportError(
            f"align_channels: {where} must be a plain nn.Conv2d (bake the norms first), got {type(conv).__name__}"
        )
    kernel, stride = conv.kernel_size, conv.stride
    assert len(kernel) == 2 and len(stride) == 2 and not isinstance(conv.padding, str)  # a Conv2d's own
    out = nn.Conv2d(
        cin,
        cout,
        (kernel[0], kernel[1]),
        stride=(stride[0], stride[1]),
        padding=(conv.padding[0], conv.padding[1]),
        bias=conv.bias is not None,
    )
    with torch.no_grad():
        out.weight.zero_()
        out.weight[: conv.out_channels, : conv.in_channels] = conv.weight
        if conv.bias is not None and out.bias is not None:
            out.bias.zero_()
            out.bias[: conv.out_channels] = conv.bias
    return out.to(conv.weight.device, conv.weight.dtype).requires_grad_(False)


def align_channels(model: nn.Module, multiple: int = 8) -> list[AlignReport]:
    """Pad the full-resolution merge stage of every :class:`UnetGenerator` inside ``model`` (in place) to a
    multiple of ``multiple`` channels, and report each one.

    ``model`` must hold plain convolutions (``vs_colorize.training.archs.bake_norms``, as :func:`vs_colorize.export.prepare.prepare`
    does). Raises :class:`ExportError` for a ``multiple`` outside 1..128 or a model without a generator.
    """
    if isinstance(multiple, bool) or not isinstance(multiple, int) or not 1 <= multiple <= 128:
        raise ExportError(f"align_channels: multiple must be an int in 1..128, got {multiple!r}")
    generators = [m for m in model.modules() if isinstance(m, UnetGenerator)]
    if not generators:
        raise ExportError(
            f"align_channels: model has no UnetGenerator to align (got {type(model).__name__}); "
            "channel alignment is for the colorization U-Net"
        )
    reports = []
    for g in generators:
        layers = g.layers
        res, last = cast(Any, layers[10]), cast(nn.Sequential, layers[11])
        n = int(res.layers[0][0].in_channels)
        aligned = -(-n // multiple) * multiple
        reports.append(AlignReport(n, aligned))
        if aligned == n:
            continue
        layers[9] = PaddedMerge(aligned - n)
        for i in (0, 1):
            res.layers[i][0] = _padded_conv(res.layers[i][0], aligned, aligned, f"ResBlock conv {i}")
        head = cast(nn.Conv2d, last[0])
        last[0] = _padded_conv(head, aligned, head.out_channels, "final 1x1 conv")
    return reports


@dataclass(frozen=True)
class PaddingCost:
    """Multiply-accumulates of one forward pass at ``size``, before and after alignment."""

    size: tuple[int, int]
    macs: int
    aligned_macs: int

    @property
    def extra(self) -> float:
        """The relative MAC increase (0.012 = 1.2 % more)."""
        return self.aligned_macs / self.macs - 1

    def describe(self) -> str:
        h, w = self.size
        return (
            f"{self.macs / 1e9:.2f} → {self.aligned_macs / 1e9:.2f} GMAC per {h}x{w} frame "
            f"(+{100 * self.extra:.2f} %)"
        )


def conv_macs(model: nn.Module, x: Tensor) -> int:
    """Multiply-accumulates of the convolutions and linear layers in one forward pass of ``model`` on ``x``."""
    total = 0

    def count(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv1d | nn.Conv2d):
            per_output = module.in_channels // module.groups * int(torch.tensor(module.kernel_size).prod())
            total += output.numel() * per_output
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return total


def padding_cost(plain: nn.Module, aligned: nn.Module, x: Tensor) -> PaddingCost:
    """The MACs of ``plain`` and ``aligned`` on input ``x`` (NCHW, batch 1); MACs scale with H·W."""
    cost = PaddingCost(tuple(x.shape[-2:]), conv_macs(plain, x), conv_macs(aligned, x))  # type: ignore[arg-type]
    log.info("channel alignment: %s", cost.describe())
    return cost
