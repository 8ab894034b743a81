"""DeOldify's building blocks as small named modules (generator, critic and the SR model reuse them).

Module attribute names reproduce DeOldify's/fastai's state-dict keys exactly. Behaviour follows
reference/deoldify/README.md §4.1; comments give the fastai v1 name of each block.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .norms import SNConv, WNConv2d, icnr_


class SelfAttention(nn.Module):
    """SAGAN self-attention (fastai ``SelfAttention``) over ``C`` channels; keys ``gamma``,
    ``query``, ``key``, ``value``.

    ``query``/``key`` are spectral-norm Conv1d ``C → C//8`` and ``value`` ``C → C``, all 1x1 and
    bias-free. With ``x`` flattened to ``[B, C, N]``: ``β = softmax(fᵀg, dim=1)`` (normalised over
    the query index ``i``) and ``out = γ·(h β) + x``. No 1/√d scaling. ``gamma`` starts at 0, so a
    fresh block is the identity.

    Args:
        n_channels: ``C`` (≥ 8).
    """

    def __init__(self, n_channels: int) -> None:
        super().__init__()
        if n_channels < 8:
            raise ValueError(f"SelfAttention: n_channels must be >= 8, got {n_channels}")
        self.query = SNConv(n_channels, n_channels // 8, 1, padding=0, bias=False, ndim=1)
        self.key = SNConv(n_channels, n_channels // 8, 1, padding=0, bias=False, ndim=1)
        self.value = SNConv(n_channels, n_channels, 1, padding=0, bias=False, ndim=1)
        self.gamma = nn.Parameter(torch.tensor([0.0]))

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape
        flat = x.reshape(size[0], size[1], -1)
        f, g, h = self.query(flat), self.key(flat), self.value(flat)
        beta = F.softmax(torch.bmm(f.transpose(1, 2), g), dim=1)
        out = self.gamma * torch.bmm(h, beta) + flat
        return out.reshape(size)


def conv_block(ni: int, nf: int, self_attention: bool = False) -> nn.Sequential:
    """DeOldify's ``custom_conv_layer(ni, nf, norm_type=Spectral, extra_bn=True)``.

    ``Sequential(0: SNConv(ni→nf, 3x3, pad 1, no bias), 1: ReLU, 2: BatchNorm2d(nf)
    [, 3: SelfAttention(nf)])``: note the order conv → ReLU → BN.
    """
    layers: list[nn.Module] = [SNConv(ni, nf, 3, bias=False), nn.ReLU(inplace=True), nn.BatchNorm2d(nf)]
    if self_attention:
        layers.append(SelfAttention(nf))
    return nn.Sequential(*layers)


def act_conv(ni: int, nf: int, ks: int = 3, stride: int = 1, leaky: float | None = None) -> nn.Sequential:
    """fastai ``conv_layer(..., norm_type=Spectral)`` with bias: ``Sequential(0: SNConv, 1: ReLU)``
    (or ``LeakyReLU(leaky)`` when ``leaky`` is given)."""
    act: nn.Module = nn.ReLU(inplace=True) if leaky is None else nn.LeakyReLU(leaky, inplace=True)
    return nn.Sequential(SNConv(ni, nf, ks, stride=stride), act)


class Blur(nn.Module):
    """The anti-checkerboard blur after a pixel shuffle: ``ReplicationPad2d((1,0,1,0))`` (left,
    top) then ``AvgPool2d(2, stride=1)``. Keeps the spatial size."""

    def __init__(self) -> None:
        super().__init__()
        self.pad = nn.ReplicationPad2d((1, 0, 1, 0))
        self.pool = nn.AvgPool2d(2, stride=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.pad(x))


class PixelShuffleUp(nn.Module):
    """DeOldify ``CustomPixelShuffle_ICNR(ni, nf)`` with spectral norm: ×2 upsampling.

    ``conv = Sequential(0: SNConv(ni→4·nf, 1x1, no bias), 1: BatchNorm2d(4·nf))`` → ReLU →
    ``PixelShuffle(2)`` → :class:`Blur` (DeOldify always blurs; ``blur=False`` is for other models).
    The conv is ICNR-initialised.

    Args:
        ni: input channels.
        nf: output channels.
        blur: apply the blur (default ``True``).
    """

    def __init__(self, ni: int, nf: int, blur: bool = True) -> None:
        super().__init__()
        conv = SNConv(ni, nf * 4, 1, bias=False)
        self.conv = nn.Sequential(conv, nn.BatchNorm2d(nf * 4))
        icnr_(conv.weight_orig)
        self.shuf = nn.PixelShuffle(2)
        self.relu = nn.ReLU(inplace=True)
        self.blur = Blur() if blur else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.blur(self.shuf(self.relu(self.conv(x))))


class FinalUp(nn.Module):
    """fastai ``PixelShuffle_ICNR(n)`` with its default weight norm: the last ×2 upsampling.

    ``conv = Sequential(0: WNConv2d(n→4·nf, 1x1, bias))`` → ReLU → ``PixelShuffle(2)`` → blur.

    Args:
        ni: input channels.
        nf: output channels (default ``ni``).
        blur: apply the blur (default ``True``; fastai's flag is always true in effect).
    """

    def __init__(self, ni: int, nf: int | None = None, blur: bool = True) -> None:
        super().__init__()
        nf = ni if nf is None else nf
        conv = WNConv2d(ni, nf * 4, 1)
        self.conv = nn.Sequential(conv)
        icnr_(conv.weight_v)
        with torch.no_grad():
            conv.weight_g.copy_(conv.weight_v.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1))
        self.shuf = nn.PixelShuffle(2)
        self.relu = nn.ReLU(inplace=True)
        self.blur = Blur() if blur else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.blur(self.shuf(self.relu(self.conv(x))))


class MergeDense(nn.Module):
    """fastai ``MergeLayer(dense=True)`` ("last cross"): ``cat([x, net_input], dim=1)``, decoder
    features first."""

    def forward(self, x: Tensor, net_input: Tensor) -> Tensor:
        return torch.cat([x, net_input], dim=1)


class ResBlock(nn.Module):
    """fastai ``res_block(n, norm_type=Spectral)``: ``x + act(conv1(act(conv0(x))))``.

    Keys ``layers.0.0.*`` and ``layers.1.0.*`` (3x3 spectral-norm convs with bias, no BatchNorm).
    """

    def __init__(self, n: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([act_conv(n, n), act_conv(n, n)])

    def forward(self, x: Tensor) -> Tensor:
        return x + self.layers[1](self.layers[0](x))


class SigmoidRange(nn.Module):
    """``sigmoid(x)·(high − low) + low`` (fastai ``SigmoidRange``); DeOldify uses (−3, 3)."""

    def __init__(self, low: float, high: float) -> None:
        super().__init__()
        self.low, self.high = low, high

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(x) * (self.high - self.low) + self.low

    def extra_repr(self) -> str:
        return f"low={self.low}, high={self.high}"


def resize_to(x: Tensor, ref: Tensor) -> Tensor:
    """Legacy ``'nearest'`` resize of ``x`` to ``ref``'s H, W (src = floor(dst·in/out)), as DeOldify's
    U-Net blocks do when a side is not a multiple of 32. Identity when the sizes already match;
    while tracing for export it always emits the (then no-op) resize so no shape guard is baked in."""
    if torch.compiler.is_compiling() or torch.jit.is_tracing() or x.shape[-2:] != ref.shape[-2:]:
        return F.interpolate(x, size=ref.shape[-2:], mode="nearest")
    return x
