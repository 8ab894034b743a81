"""DeOldify's critic (``custom_gan_critic``), keys ``0.0.weight_orig`` … ``12.0.weight_v``."""

from __future__ import annotations

from torch import Tensor, nn

from .config import CriticConfig
from .layers import SelfAttention, act_conv
from .norms import SNConv


class Critic(nn.Sequential):
    """A patch critic on ImageNet-normalised RGB; returns ``[N, (H/16−3)·(W/16−3)]`` logits for
    the default three blocks (H, W multiples of 16, ≥ 64).

    Layout (nf = 256): SNConv k4 s2 + LeakyReLU(0.2), Dropout2d(p/2), then per block
    ``[SNConv k3, Dropout2d(p), SNConv k4 s2 (+ SelfAttention in the first block)]`` doubling the
    width, then SNConv k3, SNConv(→1, k4, pad 0, no bias, no activation) and a flatten.

    Attributes:
        config: the :class:`CriticConfig` it was built from.
        source_sha256: sha256 of the file it was loaded from (``None`` if built fresh).
    """

    def __init__(self, config: CriticConfig) -> None:
        nf = config.nf
        layers: list[nn.Module] = [
            act_conv(config.n_channels, nf, ks=4, stride=2, leaky=0.2),
            nn.Dropout2d(config.p / 2),
        ]
        for i in range(config.n_blocks):
            down = act_conv(nf, nf * 2, ks=4, stride=2, leaky=0.2)
            if i == 0:
                down.append(SelfAttention(nf * 2))
            layers += [act_conv(nf, nf, ks=3, leaky=0.2), nn.Dropout2d(config.p), down]
            nf *= 2
        layers += [
            act_conv(nf, nf, ks=3, leaky=0.2),
            nn.Sequential(SNConv(nf, 1, 4, padding=0, bias=False)),
            nn.Flatten(),
        ]
        super().__init__(*layers)
        self.config = config
        self.source_sha256: str | None = None

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.config.n_channels:
            raise ValueError(
                f"Critic.forward: x must be [N, {self.config.n_channels}, H, W], got shape {list(x.shape)}"
            )
        return super().forward(x)  # type: ignore[no-untyped-call]  # nn.Sequential.forward is unannotated


def build_critic(config: CriticConfig | None = None) -> Critic:
    """Build DeOldify's critic (``CriticConfig()`` = ``nf=256, n_blocks=3, p=0.15``), or a smaller
    one from ``config`` (e.g. ``CriticConfig(nf=16)`` for tests). Returned in train mode."""
    cfg = CriticConfig() if config is None else config
    if not isinstance(cfg, CriticConfig):
        raise TypeError(f"build_critic: config must be a CriticConfig or None, got {config!r}")
    return Critic(cfg)
