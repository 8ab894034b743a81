"""The stability loss: two crappified copies of one tuple must both hit the target and agree with each other.

``loss = L(Y₁, T) + L(Y₂, T) + λ·L(Y₁, Y₂)`` where ``Y₁``, ``Y₂`` are the predictions for two independent
crappifications of the same 3-frame tuple and ``T`` the HR target. The third term penalises outputs that depend
on the particular noise draw, which is what makes a movie flicker frame to frame.

With adjacent tuples (the second copy is the neighbouring tuple, target ``T₂``) the loss is
``L(Y₁, T₁) + L(Y₂, T₂) + λ·L(Y₁ − T₁, Y₂ − T₂)``: the error itself must hold still from one frame to the next,
whatever the noise. On clean input (plain downsampling), where two noise copies differ only by their gain, this
is the only temporal signal the network gets.

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

    def forward(
        self, y1: Tensor, y2: Tensor, target: Tensor, target2: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Return the parts (``fit1``, ``fit2``, ``consistency``) and their weighted sum ``loss``.

        ``target2`` is the second copy's own target when it is another frame (adjacent tuples): the consistency
        term then compares the two *errors*, ``L(Y₁ − T₁, Y₂ − T₂)``, so what it penalises is an error that
        changes from frame to frame (the error flicker of :func:`~vs_colorize.training.sr.metrics.error_flicker`).
        """
        if target2 is None:
            fit2, consistency = self._fit(y2, target), base_loss(self.base)(y1, y2)
        else:
            fit2, consistency = self._fit(y2, target2), base_loss(self.base)(y1 - target, y2 - target2)
        parts = {"fit1": self._fit(y1, target), "fit2": fit2, "consistency": consistency}
        parts["loss"] = parts["fit1"] + parts["fit2"] + self.stability * parts["consistency"]
        return parts

    def extra_repr(self) -> str:
        return f"base={self.base!r}, stability={self.stability}, feature={self.feature is not None}"
