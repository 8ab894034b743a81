"""Frozen, JSON-serialisable configurations of the generator and the critic, and the presets."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .resnet import ENCODERS

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

DECODERS = ("wide", "deep")


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything that defines a U-Net generator's architecture.

    Attributes:
        name: preset or free-form name; recorded in checkpoints and export metadata (default "custom").
        encoder: ``"resnet18"``, ``"resnet34"`` (default), ``"resnet50"`` or ``"resnet101"``.
        encoder_width: stem width of the ResNet, ≥ 8 (default 64 = torchvision's networks).
        decoder: ``"wide"`` (DeOldify ``DynamicUnetWide``: blocks of ``512·nf_factor`` channels)
            or ``"deep"`` (default; ``DynamicUnetDeep``: two convs per block, ``nf_factor`` times
            the block input).
        nf_factor: decoder width factor, > 0 (default 1.5).
        self_attention: self-attention in the second U-Net block (default ``True``).
        blur: blur after every pixel shuffle (default ``True``, as DeOldify in effect always does).
        y_range: ``(low, high)`` of the final ``SigmoidRange``, or ``None`` for a linear output
            (default ``(-3.0, 3.0)``: normalised RGB).
        n_in: input channels (default 3); the final dense merge concatenates the input.
        n_out: output channels (default 3).
        detach_skips: stop gradients through the skip connections into the encoder (default
            ``False``, as DeOldify since 2019-07; before that its hooks detached them, which is
            probably how the published weights were trained). No effect on inference.
    """

    name: str = "custom"
    encoder: str = "resnet34"
    encoder_width: int = 64
    decoder: str = "deep"
    nf_factor: float = 1.5
    self_attention: bool = True
    blur: bool = True
    y_range: tuple[float, float] | None = (-3.0, 3.0)
    n_in: int = 3
    n_out: int = 3
    detach_skips: bool = False

    def __post_init__(self) -> None:
        where = "GeneratorConfig"
        if self.encoder not in ENCODERS:
            raise ValueError(f"{where}: encoder must be one of {sorted(ENCODERS)}, got {self.encoder!r}")
        if self.decoder not in DECODERS:
            raise ValueError(f"{where}: decoder must be one of {DECODERS}, got {self.decoder!r}")
        if not isinstance(self.encoder_width, int) or self.encoder_width < 8:
            raise ValueError(f"{where}: encoder_width must be an int >= 8, got {self.encoder_width!r}")
        if not self.nf_factor > 0:
            raise ValueError(f"{where}: nf_factor must be > 0, got {self.nf_factor!r}")
        if self.y_range is not None:
            low, high = self.y_range
            if not low < high:
                raise ValueError(
                    f"{where}: y_range must be (low, high) with low < high, got {self.y_range!r}"
                )
            object.__setattr__(self, "y_range", (float(low), float(high)))
        for field in ("n_in", "n_out"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{where}: {field} must be an int >= 1, got {value!r}")

    def same_architecture(self, other: GeneratorConfig) -> bool:
        """Whether ``other`` describes the same network, ignoring ``name`` and ``detach_skips``
        (which only affects training)."""
        return dataclasses.replace(other, name=self.name, detach_skips=self.detach_skips) == self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GeneratorConfig:
        """Rebuild a config from :func:`dataclasses.asdict` output (e.g. read back from JSON).

        Raises:
            ValueError: on unknown keys or invalid values.
        """
        return _from_dict(cls, data)


@dataclass(frozen=True)
class CriticConfig:
    """DeOldify's ``custom_gan_critic`` settings.

    Attributes:
        nf: width of the first conv, ≥ 8 (default 256, DeOldify's); doubles at each of the blocks.
        n_blocks: number of stride-2 blocks after the first conv, ≥ 1 (default 3).
        p: dropout probability in [0, 1) (default 0.15; the first dropout uses ``p/2``).
        n_channels: input channels (default 3).
    """

    nf: int = 256
    n_blocks: int = 3
    p: float = 0.15
    n_channels: int = 3

    def __post_init__(self) -> None:
        where = "CriticConfig"
        if not isinstance(self.nf, int) or self.nf < 8:
            raise ValueError(f"{where}: nf must be an int >= 8, got {self.nf!r}")
        if not isinstance(self.n_blocks, int) or self.n_blocks < 1:
            raise ValueError(f"{where}: n_blocks must be an int >= 1, got {self.n_blocks!r}")
        if not 0 <= self.p < 1:
            raise ValueError(f"{where}: p must be in [0, 1), got {self.p!r}")
        if not isinstance(self.n_channels, int) or self.n_channels < 1:
            raise ValueError(f"{where}: n_channels must be an int >= 1, got {self.n_channels!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CriticConfig:
        """Rebuild a config from :func:`dataclasses.asdict` output."""
        return _from_dict(cls, data)


def _from_dict[T: DataclassInstance](cls: type[T], data: Mapping[str, Any]) -> T:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}.from_dict: unknown keys {unknown}")
    values = dict(data)
    if values.get("y_range") is not None:
        values["y_range"] = tuple(values["y_range"])
    return cls(**values)


PRESETS: dict[str, GeneratorConfig] = {
    "video": GeneratorConfig(name="video", encoder="resnet101", decoder="wide", nf_factor=2.0),
    "stable": GeneratorConfig(name="stable", encoder="resnet101", decoder="wide", nf_factor=2.0),
    "artistic": GeneratorConfig(name="artistic", encoder="resnet34", decoder="deep", nf_factor=1.5),
    "tiny": GeneratorConfig(name="tiny", encoder="resnet18", encoder_width=16, decoder="deep", nf_factor=1.0),
}


def preset(name: str) -> GeneratorConfig:
    """The :class:`GeneratorConfig` of preset ``name`` (``video``, ``stable``, ``artistic``, ``tiny``)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"preset: name must be one of {sorted(PRESETS)}, got {name!r}") from None
