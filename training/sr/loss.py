"""The stability loss: two crappified copies of one tuple must both hit the target and agree with each other.

``loss = L(Y₁, T) + L(Y₂, T) + λ·L(Y₁, Y₂)`` where ``Y₁``, ``Y₂`` are the predictions for two independent
crappifications of the same 3-frame tuple and ``T`` the HR target. The third term penalises outputs that depend
on the particular noise draw, which is what makes a movie flicker frame to frame.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

BASES = {"l1": F.l1_loss, "mse": F.mse_loss}


class StabilityLoss(nn.Module):
    """``L(Y₁,T) + L(Y₂,T) + λ·L(Y₁,Y₂)``.

    Args:
        base: the pixel loss ``L``, ``"l1"`` (default) or ``"mse"``.
        stability: ``λ`` >= 0 (default 1.0; 0 trains on both copies without the consistency term).
    """

    def __init__(self, base: str = "l1", stability: float = 1.0) -> None:
        super().__init__()
        if base not in BASES:
            raise ValueError(f"StabilityLoss: base must be one of {tuple(BASES)}, got {base!r}")
        if stability < 0:
            raise ValueError(f"StabilityLoss: stability must be >= 0, got {stability}")
        self.base, self.stability = base, stability

    def forward(self, y1: Tensor, y2: Tensor, target: Tensor) -> dict[str, Tensor]:
        """Return the parts (``fit1``, ``fit2``, ``consistency``) and their weighted sum ``loss``."""
        fn = BASES[self.base]
        parts = {"fit1": fn(y1, target), "fit2": fn(y2, target), "consistency": fn(y1, y2)}
        parts["loss"] = parts["fit1"] + parts["fit2"] + self.stability * parts["consistency"]
        return parts

    def extra_repr(self) -> str:
        return f"base={self.base!r}, stability={self.stability}"
