"""PSSR-style multi-frame super-resolution network built from the shared DeOldify blocks.

Input ``[N, window, h, w]``: frames t−1, t, t+1 of a GRAY movie in [0,1] as channels (``window=1``: frame t
only, the single-frame baseline). Output ``[N, 1, scale·h, scale·w]`` in [0,1], the HR frame t.

Layout, all at low resolution until the upscaling head:

* ``stem``: :func:`conv_block` ``window → width``;
* ``down.i`` (``depth`` levels): a stride-2 :func:`act_conv` doubling the channels, then a :func:`conv_block`
  (self-attention on the deepest one when ``self_attention``);
* ``up.i``: :class:`PixelShuffleUp` ×2 halving the channels, concatenation with the encoder feature of that
  resolution (the skip is handed over explicitly, no hooks), :func:`conv_block` back to that level's width;
* ``cross``: DeOldify's "last cross" — concatenate the network input (:class:`MergeDense`) and a
  :class:`ResBlock` over ``width + window`` channels;
* ``head``: ``log2(scale)`` × :class:`PixelShuffleUp` (ICNR, blurred) and a 3x3 conv to one channel;
* the result is added to a bicubic upsampling of the centre frame and clamped to [0,1]. The last conv starts
  at zero, so an untrained network is exactly bicubic and training learns the residual detail.

Spatial input sides must be multiples of ``2**depth`` (:attr:`SRNet.multiple`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import MergeDense, PixelShuffleUp, ResBlock, act_conv, conv_block
from .norms import SNConv

WINDOWS: tuple[int, ...] = (1, 3)
SCALES: tuple[int, ...] = (2, 4)


@dataclass(frozen=True, kw_only=True)
class SRConfig:
    """Hyper-parameters of :class:`SRNet`.

    Args:
        window: input frames, 3 (t−1, t, t+1; default) or 1 (single-frame baseline).
        scale: upscaling factor, 2 or 4 (default 4).
        width: channels at the stem, 8..256 (default 32); level i has ``width·2**i``.
        depth: stride-2 encoder levels, 1..4 (default 2).
        self_attention: SAGAN self-attention at the deepest level (default False; costs O((hw)²) memory).
        clamp: clamp the output to [0, 1] (default True). Models trained on percentile-normalised data
            (:mod:`vs_colorize.core.percentile`) work in units where a few percent of the values lie outside
            [0, 1] and are built with ``clamp=False``; files without the field keep the clamp.
    """

    window: int = 3
    scale: int = 4
    width: int = 32
    depth: int = 2
    self_attention: bool = False
    clamp: bool = True

    def __post_init__(self) -> None:
        if self.window not in WINDOWS:
            raise ValueError(f"SRConfig: window must be one of {WINDOWS}, got {self.window}")
        if self.scale not in SCALES:
            raise ValueError(f"SRConfig: scale must be one of {SCALES}, got {self.scale}")
        if not 8 <= self.width <= 256:
            raise ValueError(f"SRConfig: width must be in 8..256, got {self.width}")
        if not 1 <= self.depth <= 4:
            raise ValueError(f"SRConfig: depth must be in 1..4, got {self.depth}")

    def to_dict(self) -> dict[str, int | bool]:
        return asdict(self)

    @property
    def arch(self) -> str:
        """A short name for metadata, e.g. ``pssr3-x4-w32-d2``."""
        sa = "-sa" if self.self_attention else ""
        return f"pssr{self.window}-x{self.scale}-w{self.width}-d{self.depth}{sa}"


class SRNet(nn.Module):
    """The multi-frame (or single-frame) SR U-Net; see the module docstring. Built entirely in ``__init__``."""

    def __init__(self, config: SRConfig) -> None:
        super().__init__()
        self.config = config
        c = config.width
        self.stem = conv_block(config.window, c)
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        for i in range(config.depth):
            ci, co = c * 2**i, c * 2 ** (i + 1)
            attn = config.self_attention and i == config.depth - 1
            self.down.append(
                nn.Sequential(act_conv(ci, co, stride=2), conv_block(co, co, self_attention=attn))
            )
        for i in reversed(range(config.depth)):
            ci, co = c * 2 ** (i + 1), c * 2**i
            self.up.append(nn.ModuleDict({"shuf": PixelShuffleUp(ci, co), "conv": conv_block(2 * co, co)}))
        self.merge = MergeDense()
        self.cross = ResBlock(c + config.window)
        n_up = config.scale.bit_length() - 1
        self.head = nn.Sequential(
            *(PixelShuffleUp(c + config.window if k == 0 else c, c) for k in range(n_up)),
        )
        self.out = nn.Conv2d(c, 1, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(cast(Tensor, self.out.bias))  # a Conv2d built with a bias

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 2**self.config.depth

    def silence_neighbours(self) -> None:
        """Zero every weight that reads frames t−1 and t+1 from the input (the stem, and the "last cross"
        paths into the cross block and the head), so that the network starts as a single-frame one.

        Only a starting point: the weights stay trainable, and training brings the neighbours in as far as
        they lower the loss. Does nothing for ``window=1``.
        """
        w, c = self.config.window, self.config.width
        if w == 1:
            return
        centre = w // 2
        neighbours = [k for k in range(w) if k != centre]
        stem = cast(SNConv, self.stem[0])
        cross_in = cast(SNConv, cast(nn.Sequential, self.cross.layers[0])[0])
        head_in = cast(SNConv, cast(PixelShuffleUp, self.head[0]).conv[0])
        with torch.no_grad():
            stem.weight_orig[:, neighbours] = 0  # input channels 0..w-1 are the frames
            for conv in (cross_in, head_in):  # after MergeDense: c decoder channels, then the w frames
                conv.weight_orig[:, [c + k for k in neighbours]] = 0

    def forward(self, x: Tensor) -> Tensor:
        feats = [self.stem(x)]
        for block in self.down:
            feats.append(block(feats[-1]))
        y = feats.pop()
        for block in cast("Iterable[nn.ModuleDict]", self.up):
            y = block["conv"](torch.cat([block["shuf"](y), feats.pop()], dim=1))
        y = self.out(self.head(self.cross(self.merge(y, x))))
        centre = x[:, self.config.window // 2 : self.config.window // 2 + 1]
        base = F.interpolate(centre, scale_factor=self.config.scale, mode="bicubic", align_corners=False)
        return (base + y).clamp(0.0, 1.0) if self.config.clamp else base + y


def build_sr(config: SRConfig | None = None) -> SRNet:
    """An :class:`SRNet` for ``config`` (default: :class:`SRConfig` defaults, 3 frames, 4×, width 32)."""
    return SRNet(config or SRConfig())
