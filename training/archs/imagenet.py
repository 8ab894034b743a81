"""The ImageNet statistics DeOldify normalises images with, and the [0,1]-RGB wrapper around a generator.

DeOldify's generators take ImageNet-normalised RGB and return normalised RGB (``sigmoid·6−3``); its
inference de-normalises with ``y·std + mean`` and clamps to [0, 1] (reference README §8 steps 4–7).
"""

from __future__ import annotations

import torch
from torch import nn

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def imagenet_stats(
    *, ndim: int = 4, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean, std)`` shaped to broadcast over a ``[..., 3, H, W]`` tensor of ``ndim`` dimensions."""
    shape = (1,) * (ndim - 3) + (3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(shape)
    std = torch.tensor(IMAGENET_STD, device=device).view(shape)
    return mean, std


class ColorizeWrapper(nn.Module):
    """RGB [0,1] → ImageNet-normalised → generator → de-normalised → clamp to [0,1].

    What the exported artifacts compute (DESIGN.md §2) and what the colour metrics score.
    """

    mean: torch.Tensor  # buffers (registered in __init__)
    std: torch.Tensor

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator
        mean, std = imagenet_stats()
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.generator((x - self.mean) / self.std)
        return torch.clamp(y * self.std + self.mean, 0.0, 1.0)
