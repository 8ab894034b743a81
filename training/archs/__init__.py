"""The networks: DeOldify's U-Net generators, its critic and their building blocks.

Public API::

    from vs_colorize.training.archs import build_generator, build_critic, GeneratorConfig, CriticConfig, bake_norms

Everything is a plain ``nn.Module`` built in its constructor: no hooks, no dummy forward passes,
nothing downloaded unless ``build_generator(..., pretrained_encoder=True)`` asks for it.
"""

from .bake import bake_norms
from .config import PRESETS, CriticConfig, GeneratorConfig, preset
from .critic import Critic, build_critic
from .imagenet import IMAGENET_MEAN, IMAGENET_STD, ColorizeWrapper, imagenet_stats
from .unet import UnetGenerator, build_generator

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PRESETS",
    "ColorizeWrapper",
    "Critic",
    "CriticConfig",
    "GeneratorConfig",
    "UnetGenerator",
    "bake_norms",
    "build_critic",
    "build_generator",
    "imagenet_stats",
    "preset",
]
