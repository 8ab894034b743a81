"""Work out a network's configuration from a DeOldify-layout state dict (keys and shapes only)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from torch import Tensor

from .config import PRESETS, CriticConfig, GeneratorConfig
from .resnet import ENCODERS


class LayoutError(ValueError):
    """A state dict does not have the layout of the network it should describe."""


def infer_generator_config(state_dict: Mapping[str, Tensor]) -> GeneratorConfig:
    """The :class:`GeneratorConfig` a DeOldify-layout generator state dict was made from.

    Encoder (kind, stage depths, width, input channels), decoder variant, ``nf_factor``,
    self-attention and output channels are read from keys and shapes. ``blur`` and ``y_range`` are
    not stored in weights; DeOldify's values (``True``, ``(-3, 3)``) are assumed. ``name`` is the
    preset with the same architecture (``video`` for the video/stable architecture), else
    ``"custom"``.

    Raises:
        LayoutError: the keys are not those of a DeOldify-style U-Net generator.
    """
    stem = state_dict.get("layers.0.0.weight")
    if not isinstance(stem, Tensor) or stem.dim() != 4:
        raise LayoutError("no 4-D 'layers.0.0.weight' (the encoder stem conv of a DeOldify generator)")
    width, n_in = int(stem.shape[0]), int(stem.shape[1])
    kind = "bottleneck" if "layers.0.4.0.conv3.weight" in state_dict else "basic"
    depths = tuple(_count_blocks(state_dict, f"layers.0.{4 + k}.") for k in range(4))
    encoder = next((n for n, (knd, d) in ENCODERS.items() if knd == kind and d == depths), None)
    if encoder is None:
        raise LayoutError(f"encoder with {kind} blocks {depths} is not one of {sorted(ENCODERS)}")
    if "layers.4.conv1.0.weight_orig" in state_dict:
        conv1 = state_dict["layers.4.conv1.0.weight_orig"]
        decoder, nf_factor = "deep", int(conv1.shape[0]) / int(conv1.shape[1])
    elif "layers.4.conv.0.weight_orig" in state_dict:
        decoder, nf_factor = "wide", 2 * int(state_dict["layers.4.conv.0.weight_orig"].shape[0]) / 512
    else:
        raise LayoutError(
            "no U-Net block 'layers.4.conv1.0.weight_orig' (deep) or 'layers.4.conv.0.weight_orig' (wide)"
        )
    final = state_dict.get("layers.11.0.weight_orig")
    if not isinstance(final, Tensor):
        raise LayoutError("no final conv 'layers.11.0.weight_orig'")
    config = GeneratorConfig(
        encoder=encoder,
        encoder_width=width,
        decoder=decoder,
        nf_factor=nf_factor,
        self_attention=any(k.startswith("layers.5.") and k.endswith(".gamma") for k in state_dict),
        n_in=n_in,
        n_out=int(final.shape[0]),
    )
    return dataclasses.replace(config, name=preset_name_of(config))


def preset_name_of(config: GeneratorConfig) -> str:
    """The first preset (in ``video, stable, artistic, tiny`` order) with ``config``'s
    architecture (:meth:`GeneratorConfig.same_architecture`); ``"custom"`` if none has it."""
    for name, cfg in PRESETS.items():
        if cfg.same_architecture(config):
            return name
    return "custom"


def infer_critic_config(state_dict: Mapping[str, Tensor]) -> CriticConfig:
    """The :class:`CriticConfig` of a DeOldify-layout critic state dict (``p`` is not stored; 0.15).

    Raises:
        LayoutError: the keys are not those of DeOldify's critic.
    """
    first = state_dict.get("0.0.weight_orig")
    if not isinstance(first, Tensor) or first.dim() != 4:
        raise LayoutError("no 4-D '0.0.weight_orig' (the first conv of a DeOldify critic)")
    indices = {int(m.group(1)) for k in state_dict if (m := re.match(r"(\d+)\.0\.weight_orig$", k))}
    n_blocks, rest = divmod(max(indices) - 3, 3)
    if rest or n_blocks < 1:
        raise LayoutError(f"critic conv indices {sorted(indices)} do not fit DeOldify's critic layout")
    return CriticConfig(nf=int(first.shape[0]), n_blocks=n_blocks, n_channels=int(first.shape[1]))


def _count_blocks(state_dict: Mapping[str, Tensor], prefix: str) -> int:
    blocks = {k[len(prefix) :].split(".", 1)[0] for k in state_dict if k.startswith(prefix)}
    return len(blocks)
