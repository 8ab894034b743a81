"""ResNet encoders with a width option, in torchvision's layout, returning the U-Net skip features.

:class:`ResNetEncoder` is an ``nn.Sequential`` whose children are torchvision's ResNet children
without ``avgpool``/``fc`` (``0`` conv1, ``1`` bn1, ``2`` relu, ``3`` maxpool, ``4``–``7``
layer1–layer4). Block internals keep torchvision's names (``conv1``, ``bn1``, …, ``downsample``), so
``layers.0.7.0.downsample.0.weight`` and friends match DeOldify and a torchvision ResNet state dict
loads after renaming its top-level names (:func:`torchvision_to_encoder_keys`). Bottlenecks carry
the stride on the 3x3 conv (torchvision "v1.5"). ``width`` scales every channel count (64 = the
standard networks).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

ENCODERS: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
}
_TOP_LEVEL = {"conv1": "0", "bn1": "1", "layer1": "4", "layer2": "5", "layer3": "6", "layer4": "7"}


def _conv3x3(ni: int, nf: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(ni, nf, 3, stride=stride, padding=1, bias=False)


def _conv1x1(ni: int, nf: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(ni, nf, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """torchvision ``BasicBlock``: two 3x3 convs with BN and an identity/projection shortcut."""

    expansion = 1

    def __init__(self, ni: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(ni, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _shortcut(ni, planes, stride)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """torchvision ``Bottleneck`` (1x1 → 3x3 with the stride → 1x1 ×4, BN after each)."""

    expansion = 4

    def __init__(self, ni: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv1x1(ni, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * 4)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(ni, planes * 4, stride)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _shortcut(ni: int, nf: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and ni == nf:
        return None
    return nn.Sequential(_conv1x1(ni, nf, stride), nn.BatchNorm2d(nf))


class ResNetEncoder(nn.Sequential):
    """A torchvision-layout ResNet body that returns the features the U-Net needs.

    Args:
        name: ``"resnet18"``, ``"resnet34"``, ``"resnet50"`` or ``"resnet101"``.
        width: stem width (default 64 = torchvision); stage ``k`` has ``width·2^k·expansion``
            output channels.
        in_channels: input channels (default 3).

    ``forward(x)`` returns ``(stem, l1, l2, l3, l4)``: the stem ReLU output (before max-pool, /2),
    and layer1..layer4 outputs (/4, /8, /16, /32). Attributes ``skip_channels`` (stem, l1, l2, l3)
    and ``out_channels`` (l4) give their channel counts.
    """

    def __init__(self, name: str, width: int = 64, in_channels: int = 3) -> None:
        if name not in ENCODERS:
            raise ValueError(f"ResNetEncoder: name must be one of {sorted(ENCODERS)}, got {name!r}")
        if width < 1:
            raise ValueError(f"ResNetEncoder: width must be >= 1, got {width}")
        kind, depths = ENCODERS[name]
        block: type[BasicBlock] | type[Bottleneck] = BasicBlock if kind == "basic" else Bottleneck
        stages: list[nn.Module] = []
        ni = width
        for k, depth in enumerate(depths):
            planes = width * 2**k
            blocks: list[nn.Module] = []
            for b in range(depth):
                blocks.append(block(ni, planes, stride=2 if (k > 0 and b == 0) else 1))
                ni = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        super().__init__(
            nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
            *stages,
        )
        self.skip_channels = (width, *(width * 2**k * block.expansion for k in range(3)))
        self.out_channels = ni
        _torchvision_init(self)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        stem = self[2](self[1](self[0](x)))
        l1 = self[4](self[3](stem))
        l2 = self[5](l1)
        l3 = self[6](l2)
        return stem, l1, l2, l3, self[7](l3)


def _torchvision_init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def torchvision_to_encoder_keys(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename a torchvision ResNet state dict (``conv1.weight``, ``layer3.5.bn2.bias``, …) to
    :class:`ResNetEncoder` keys (``0.weight``, ``6.5.bn2.bias``, …); ``fc.*`` is dropped."""
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        head, _, rest = key.partition(".")
        if head == "fc":
            continue
        if head not in _TOP_LEVEL:
            raise KeyError(key)
        out[f"{_TOP_LEVEL[head]}.{rest}"] = value
    return out


def encoder_to_torchvision_keys(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The inverse of :func:`torchvision_to_encoder_keys`: an encoder's state dict in torchvision's names, which
    is what ``gen.pretrained_encoder`` loads (an encoder pretrained on its own, for example)."""
    names = {v: k for k, v in _TOP_LEVEL.items()}
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        head, _, rest = key.partition(".")
        if head not in names:
            raise KeyError(key)
        out[f"{names[head]}.{rest}"] = value
    return out


def load_encoder_weights(encoder: ResNetEncoder, state_dict: Mapping[str, Tensor], source: str) -> None:
    """Load a torchvision ResNet state dict into ``encoder`` (strict; ``fc.*`` ignored).

    Raises:
        ValueError: naming ``source`` when keys or shapes do not fit.
    """
    try:
        renamed = torchvision_to_encoder_keys(state_dict)
    except KeyError as exc:
        raise ValueError(
            f"build_generator: pretrained_encoder {source} has key {exc.args[0]!r}, "
            "expected a torchvision ResNet state dict (conv1.*, bn1.*, layer1-4.*, fc.*)"
        ) from None
    try:
        with torch.no_grad():
            encoder.load_state_dict(renamed, strict=True)
    except RuntimeError as exc:
        raise ValueError(
            f"build_generator: pretrained_encoder {source} does not fit this encoder: {exc}"
        ) from None
