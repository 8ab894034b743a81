"""The stability loss: two crappified copies of one tuple must both hit the target and agree with each other.

``loss = L(Y₁, T) + L(Y₂, T) + λ·L(Y₁, Y₂)`` where ``Y₁``, ``Y₂`` are the predictions for two independent
crappifications of the same 3-frame tuple and ``T`` the HR target. The third term penalises outputs that depend
on the particular noise draw, which is what makes a movie flicker frame to frame.

With a feature loss (``vs_colorize.training.losses.FeatureLoss``, DeOldify's VGG16-BN perceptual loss), the two fit terms
compare VGG features of the grey frames (replicated to RGB and ImageNet-normalised) as well as pixels; the
consistency term stays a pixel loss.
"""

from __future__ import annotations

from torch import Tensor, nn

from vs_colorize.training.archs.imagenet import imagenet_stats
from vs_colorize.training.losses import BASE_LOSSES, FeatureLoss, base_loss


class StabilityLoss(nn.Module):
    """``L(Y₁,T) + L(Y₂,T) + λ·L(Y₁,Y₂)``.

    Args:
        base: the pixel loss ``L`` by name (``vs_colorize.training.losses.BASE_LOSSES``: ``"l1"`` default, ``"mse"``, …).
        stability: ``λ`` >= 0 (default 1.0; 0 trains on both copies without the consistency term).
        feature: optional perceptual loss for the two fit terms (see the module docstring).
    """

    mean: Tensor  # buffers (registered in __init__)
    std: Tensor

    def __init__(self, base: str = "l1", stability: float = 1.0, feature: FeatureLoss | None = None) -> None:
        super().__init__()
        if base not in BASE_LOSSES:
            raise ValueError(f"StabilityLoss: base must be one of {sorted(BASE_LOSSES)}, got {base!r}")
        if stability < 0:
            raise ValueError(f"StabilityLoss: stability must be >= 0, got {stability}")
        self.base, self.stability, self.feature = base, stability, feature
        mean, std = imagenet_stats()
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def _fit(self, y: Tensor, target: Tensor) -> Tensor:
        if self.feature is None:
            return base_loss(self.base)(y, target)
        return self.feature(self._to_rgb(y), self._to_rgb(target))

    def _to_rgb(self, x: Tensor) -> Tensor:
        """``[N,1,H,W]`` grey in [0,1] → ImageNet-normalised ``[N,3,H,W]`` (what VGG was trained on)."""
        return (x.expand(-1, 3, -1, -1) - self.mean) / self.std

    def forward(self, y1: Tensor, y2: Tensor, target: Tensor) -> dict[str, Tensor]:
        """Return the parts (``fit1``, ``fit2``, ``consistency``) and their weighted sum ``loss``."""
        parts = {
            "fit1": self._fit(y1, target),
            "fit2": self._fit(y2, target),
            "consistency": base_loss(self.base)(y1, y2),
        }
        parts["loss"] = parts["fit1"] + parts["fit2"] + self.stability * parts["consistency"]
        return parts

    def extra_repr(self) -> str:
        return f"base={self.base!r}, stability={self.stability}, feature={self.feature is not None}"
