"""ImageNet encoder weights: torchvision's weights API (only when asked) or a local file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import torch

from .config import GeneratorConfig
from .resnet import ResNetEncoder, load_encoder_weights
from .safe_load import load_hub_weights, load_weights

_WEIGHTS_ENUMS = {
    "resnet18": "ResNet18_Weights",
    "resnet34": "ResNet34_Weights",
    "resnet50": "ResNet50_Weights",
    "resnet101": "ResNet101_Weights",
}


def load_pretrained_encoder(
    encoder: ResNetEncoder, config: GeneratorConfig, source: Literal[True] | str | os.PathLike[str]
) -> None:
    """Load ImageNet weights into ``encoder``.

    Args:
        encoder: the generator's encoder (``layers.0``).
        config: the generator's config (encoder name, width, input channels).
        source: ``True`` for torchvision's ``IMAGENET1K_V1`` weights (what DeOldify's
            ``pretrained=True`` used), fetched through torch.hub's cache
            (``$TORCH_HOME/hub/checkpoints``); or a path to a local torchvision ResNet state dict.

    Raises:
        ValueError: the config has no torchvision counterpart, or the weights do not fit.
        RuntimeError: the download failed (offline); the message names where to put the file.
        FileNotFoundError: a given path does not exist.
    """
    if source is True:
        if config.encoder_width != 64 or config.n_in != 3:
            raise ValueError(
                "build_generator: pretrained_encoder=True needs a standard torchvision ResNet "
                f"(encoder_width 64, n_in 3), got encoder_width {config.encoder_width}, n_in {config.n_in}"
            )
        load_encoder_weights(
            encoder, _download(config.encoder), f"torchvision {config.encoder} IMAGENET1K_V1"
        )
        return
    path = Path(os.fspath(source))
    if not path.is_file():
        raise FileNotFoundError(
            f"build_generator: pretrained_encoder file {os.fspath(path)!r} does not exist"
        )
    state = load_weights(path, "build_generator: pretrained_encoder")
    if not isinstance(state, dict):
        raise ValueError(
            f"build_generator: pretrained_encoder {os.fspath(path)!r} holds a {type(state).__name__}, "
            "expected a torchvision ResNet state dict"
        )
    load_encoder_weights(encoder, state, repr(os.fspath(path)))


def _download(encoder: str) -> dict[str, torch.Tensor]:
    import torchvision.models as tvm

    weights = getattr(tvm, _WEIGHTS_ENUMS[encoder]).IMAGENET1K_V1
    target = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        return load_hub_weights(weights, "build_generator: pretrained_encoder=True: cached file")
    except OSError as exc:  # urllib's URLError and socket errors are OSErrors
        raise RuntimeError(
            f"build_generator: could not fetch {encoder} ImageNet weights from {weights.url} ({exc}). "
            f"Offline: download that file elsewhere and put it at {target}, "
            "or pass pretrained_encoder='/path/to/file.pth'"
        ) from exc
