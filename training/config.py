"""Typed configuration of a NoGAN run: one dataclass per concern, JSON round trip and ``key=value`` overrides.

A run is fully described by one :class:`TrainConfig`. Recipes (``vs_colorize.training.recipes``) build one; the CLI applies
``--set key=value`` overrides (dotted paths, list indices allowed: ``gen.stages.0.lr=[1e-7,1e-4]``); the resolved
config is written as ``config.json`` into the run directory and read back by ``--resume``.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from .archs.config import GeneratorConfig

T = TypeVar("T")

AMP_MODES = ("none", "bf16", "fp16")
NOISE_KINDS = ("none", "noisify", "gaussian")


@dataclass
class CrappifyConfig:
    """How a colour target becomes the generator's grey input (see ``vs_colorize.training.crappify``).

    Lighting follows fastai's ``get_transforms(max_lighting=...)``: brightness ``change`` uniform in
    ``0.5·(1±max_lighting)`` and contrast ``scale`` log-uniform in ``[1-max_lighting, 1/(1-max_lighting)]``, each
    applied with probability ``p_lighting`` in logit space. ``noise="noisify"`` is DeOldify's video-recipe noise
    (a random 0.1–40 % of pixels get ±``noise_range``/255); ``"gaussian"`` is film-grain-like gaussian noise with
    sigma uniform in ``grain_sigma``. JPEG re-encoding and gaussian blur are off unless their probability is > 0.
    """

    max_lighting: float = 0.5
    p_lighting: float = 0.75
    noise: str = "none"
    noise_p: float = 0.8
    noise_pct: tuple[float, float] = (0.001, 0.4)
    noise_range: int = 30
    grain_sigma: tuple[float, float] = (0.01, 0.05)
    jpeg_p: float = 0.0
    jpeg_quality: tuple[int, int] = (30, 90)
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.3, 1.5)


@dataclass
class DataConfig:
    """Image folders, the train/val split, the loader and DeOldify's light geometric augmentation."""

    dirs: list[str] = field(default_factory=list)
    val_pct: float = 0.1
    max_images: int = 0
    num_workers: int = 4
    pin_memory: bool = True
    max_zoom: float = 1.2
    p_zoom: float = 0.75
    do_flip: bool = True
    crappify: CrappifyConfig = field(default_factory=CrappifyConfig)


@dataclass
class LossConfig:
    """Generator feature loss: ``pixel_weight·L1(pixels) + Σ w_i·L1(VGG16-BN features before pools 3, 4, 5)``.

    ``vgg_weights``: ``"imagenet"`` (torchvision's ``VGG16_BN_Weights.IMAGENET1K_V1``, from the torch hub cache or
    downloaded when the network allows), a path to a local VGG16-BN state dict, or ``"random"`` (random features;
    for offline smoke runs only, logged as a WARNING).

    ``chroma_weight`` and ``colourfulness_weight`` (default 0: DeOldify's loss) add the colour terms of
    :class:`vs_colorize.training.losses.GeneratorLoss`: the CIELAB chroma error and a hinge on colourfulness
    below the truth's.
    """

    base: str = "l1"
    vgg_weights: str = "imagenet"
    layer_weights: tuple[float, ...] = (20.0, 70.0, 10.0)
    pixel_weight: float = 1.0
    chroma_weight: float = 0.0
    colourfulness_weight: float = 0.0


@dataclass
class GenStage:
    """One ``fit_one_cycle`` of generator pretraining at one crop size.

    ``lr`` is fastai's ``slice(lo, hi)`` over the three layer groups (encoder[:6], encoder[6:], decoder): the groups
    get ``lo, sqrt(lo·hi), hi``; ``lo == 0`` means ``slice(hi)`` (``hi/10, hi/10, hi``). ``frozen`` trains only the
    decoder (and the encoder's BatchNorm layers, like fastai). ``epochs`` may be fractional; ``max_steps > 0`` caps
    the number of optimiser steps (smoke runs).
    """

    size: int = 64
    batch_size: int = 88
    lr: tuple[float, float] = (0.0, 1e-3)
    frozen: bool = False
    epochs: float = 1.0
    pct_start: float = 0.3
    max_steps: int = 0


@dataclass
class GenPretrainConfig:
    """Generator architecture and its pretraining schedule (progressive sizes).

    ``arch`` is a preset of ``vs_colorize.training.archs`` (``video``, ``stable``, ``artistic``, ``tiny``);
    ``arch_overrides`` replaces fields of that preset's ``GeneratorConfig`` (``{"encoder_width": 24}`` is a wider
    ``tiny``; the checkpoints record the whole architecture, so export and inference need nothing more);
    ``pretrained_encoder`` is ``"imagenet"`` (torchvision's weights), ``"none"`` or a local ResNet state-dict file.
    ``init``, when set, is a generator checkpoint (ours, or a DeOldify ``*_gen.pth``) that the first stage starts
    from instead of a new ``arch`` network, e.g. to fine-tune a pretrained generator with noise as DeOldify's video
    notebook does.
    """

    arch: str = "stable"
    arch_overrides: dict[str, Any] = field(default_factory=dict)
    pretrained_encoder: str = "imagenet"
    init: str = ""
    wd: float = 1e-3
    stages: list[GenStage] = field(default_factory=list)

    def architecture(self) -> GeneratorConfig:
        """The generator's architecture: the ``arch`` preset with ``arch_overrides`` applied.

        Raises:
            ValueError: naming ``gen.arch`` or ``gen.arch_overrides`` when the preset, a key or a value is bad.
        """
        from .archs.config import PRESETS, GeneratorConfig, preset

        try:
            base = preset(self.arch)
        except ValueError:
            raise ValueError(
                f"TrainConfig: gen.arch must be one of {sorted(PRESETS)}, got {self.arch!r}"
            ) from None
        if not self.arch_overrides:
            return base
        fields = {f.name for f in dataclasses.fields(GeneratorConfig)}
        unknown = sorted(set(self.arch_overrides) - fields)
        if unknown:
            raise ValueError(
                f"TrainConfig: gen.arch_overrides has unknown keys {unknown}; known: {sorted(fields)}"
            )
        changes = dict(self.arch_overrides)
        # the name goes into checkpoints and export metadata: say it is not the preset (tiny-encoder_width24)
        changes.setdefault("name", "-".join([base.name, *(f"{k}{v}" for k, v in sorted(changes.items()))]))
        try:
            return dataclasses.replace(base, **changes)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"TrainConfig: gen.arch_overrides: {exc}") from None


@dataclass
class FakesConfig:
    """Images generated by the current generator for the critic (centre crop resized to ``size``): the fraction
    ``keep_pct`` of the training images (DeOldify: 0.085), at most ``max_images`` when > 0."""

    size: int = 192
    keep_pct: float = 0.085
    batch_size: int = 8
    max_images: int = 0


@dataclass
class CriticStage:
    """One ``fit_one_cycle`` of critic pretraining (real vs generated)."""

    size: int = 128
    batch_size: int = 64
    lr: float = 1e-3
    epochs: float = 6.0
    pct_start: float = 0.3
    max_steps: int = 0


@dataclass
class CriticPretrainConfig:
    """Critic architecture (keyword arguments of ``vs_colorize.training.archs.CriticConfig``) and its pretraining.

    The first NoGAN cycle trains a fresh critic with ``first``; later cycles continue it with ``later``.
    """

    arch: dict[str, Any] = field(default_factory=dict)
    wd: float = 1e-3
    first: CriticStage = field(default_factory=CriticStage)
    later: CriticStage = field(
        default_factory=lambda: CriticStage(size=192, batch_size=16, lr=1e-4, epochs=4.0)
    )


@dataclass
class GanConfig:
    """The GAN phase (fastai ``GANLearner.from_learners`` + ``AdaptiveGANSwitcher`` + ``GANDiscriminativeLR``).

    The run sees the fraction ``keep_pct`` of the training data once (DeOldify: 0.03; ``max_steps > 0`` sets the
    step count instead). A generator checkpoint (and a resume checkpoint) is written every ``save_every_frac`` of
    the training data (0.001 = DeOldify's "every 0.1 %"; ``save_every_steps > 0`` overrides).
    """

    size: int = 192
    batch_size: int = 5
    lr: float = 2e-5
    weights_gen: tuple[float, float] = (1.0, 1.5)
    critic_thresh: float = 0.65
    critic_lr_mult: float = 5.0
    betas: tuple[float, float] = (0.0, 0.9)
    wd: float = 1e-3
    keep_pct: float = 0.03
    save_every_frac: float = 0.001
    save_every_steps: int = 0
    max_steps: int = 0


@dataclass
class TrainConfig:
    """A whole NoGAN run. ``cycles`` repeats save-fakes → critic → GAN (stable/artistic recipes use several).

    ``device``: ``"auto"`` (CUDA when visible, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``. ``amp="bf16"``
    works on CUDA and CPU; ``fp16`` and ``channels_last`` only take effect on CUDA. ``checkpoint_every`` is the
    resume-checkpoint interval in optimiser steps for generator and critic pretraining (the GAN phase checkpoints
    with its generator saves).
    ``log_every``/``image_every``: steps between TensorBoard scalars / image grids (``losses.jsonl`` gets every
    step). ``seed`` seeds every phase (each phase mixes in its own name).
    """

    recipe: str = "custom"
    seed: int = 42
    device: str = "auto"
    amp: str = "none"
    channels_last: bool = True
    cycles: int = 1
    checkpoint_every: int = 500
    log_every: int = 10
    image_every: int = 500
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    gen: GenPretrainConfig = field(default_factory=GenPretrainConfig)
    fakes: FakesConfig = field(default_factory=FakesConfig)
    critic: CriticPretrainConfig = field(default_factory=CriticPretrainConfig)
    gan: GanConfig = field(default_factory=GanConfig)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field when a value is out of range."""
        if self.amp not in AMP_MODES:
            raise ValueError(f"TrainConfig: amp must be one of {AMP_MODES}, got {self.amp!r}")
        if self.data.crappify.noise not in NOISE_KINDS:
            raise ValueError(
                f"TrainConfig: data.crappify.noise must be one of {NOISE_KINDS}, got {self.data.crappify.noise!r}"
            )
        if self.cycles < 1:
            raise ValueError(f"TrainConfig: cycles must be >= 1, got {self.cycles}")
        if not 0.0 <= self.data.val_pct < 1.0:
            raise ValueError(f"TrainConfig: data.val_pct must be in [0, 1), got {self.data.val_pct}")
        if not 0.0 <= self.data.crappify.max_lighting < 1.0:
            raise ValueError(
                f"TrainConfig: data.crappify.max_lighting must be in [0, 1), got {self.data.crappify.max_lighting}"
            )
        if not self.gen.stages:
            raise ValueError("TrainConfig: gen.stages must list at least one stage")
        sizes = [s.size for s in self.gen.stages] + [self.fakes.size, self.critic.first.size, self.gan.size]
        sizes += [self.critic.later.size]
        if any(s < 32 or s % 32 for s in sizes):
            raise ValueError(f"TrainConfig: every crop size must be a multiple of 32 and >= 32, got {sizes}")
        for name in ("pixel_weight", "chroma_weight", "colourfulness_weight"):
            if getattr(self.loss, name) < 0:
                raise ValueError(f"TrainConfig: loss.{name} must be >= 0, got {getattr(self.loss, name)}")
        self.gen.architecture()  # an unknown preset, override key or value raises here, not hours later
        if self.checkpoint_every < 1:
            raise ValueError(f"TrainConfig: checkpoint_every must be >= 1, got {self.checkpoint_every}")


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain JSON-able data (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def from_dict[T: DataclassInstance](cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a config dataclass from :func:`to_dict` output; unknown keys raise ``ValueError``."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"from_dict: unknown keys for {cls.__name__}: {sorted(unknown)}")
    kwargs = {k: _convert(hints[k], v) for k, v in data.items()}
    return cls(**kwargs)


def _convert(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp) and isinstance(value, dict):
        return from_dict(tp, value)
    if origin is tuple:
        return tuple(value)
    if origin is list:
        (inner,) = typing.get_args(tp)
        return [_convert(inner, v) for v in value]
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def save_config(cfg: TrainConfig, path: Path) -> None:
    """Write the resolved config as indented JSON (atomically)."""
    from vs_colorize.core.fileio import atomic_output

    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(to_dict(cfg), indent=2) + "\n")


def load_config(path: Path) -> TrainConfig:
    """Read a ``config.json`` written by :func:`save_config`."""
    return from_dict(TrainConfig, json.loads(Path(path).read_text()))


def apply_overrides(cfg: TrainConfig, items: list[str]) -> TrainConfig:
    """Return a copy of ``cfg`` with ``key=value`` overrides applied.

    Keys are dotted field paths; integers index lists (``gen.stages.1.batch_size=16``). Values are parsed as JSON
    when possible (numbers, booleans, lists, objects) and taken as plain strings otherwise; they are then checked
    against the field's type. Unknown keys raise ``ValueError`` naming the key.
    """
    data = to_dict(cfg)
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"apply_overrides: expected key=value, got {item!r}")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        parts = key.split(".")
        node: Any = data
        for part in parts[:-1]:
            node = _child(node, part, key)
        last = parts[-1]
        old = _child(node, last, key)
        value = _coerce(value, old, key)
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    out = from_dict(TrainConfig, data)
    out.validate()
    return out


def _child(node: Any, part: str, key: str) -> Any:
    if isinstance(node, list):
        if not part.isdigit() or int(part) >= len(node):
            raise ValueError(f"apply_overrides: {key!r}: index {part!r} out of range (list of {len(node)})")
        return node[int(part)]
    if not isinstance(node, dict) or part not in node:
        raise ValueError(f"apply_overrides: unknown key {key!r} (no field {part!r})")
    return node[part]


def _coerce(value: Any, old: Any, key: str) -> Any:
    if isinstance(old, bool):
        if isinstance(value, bool):
            return value
        raise ValueError(f"apply_overrides: {key!r} must be true or false, got {value!r}")
    if isinstance(old, int | float) and not isinstance(old, bool):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value) if isinstance(old, float) else _as_int(value, key)
        raise ValueError(f"apply_overrides: {key!r} must be a number, got {value!r}")
    if isinstance(old, list) and isinstance(value, str):
        value = [v for v in value.split(",") if v]
    if isinstance(old, list) and not isinstance(value, list):
        raise ValueError(f"apply_overrides: {key!r} must be a list, got {value!r}")
    if isinstance(old, str) and not isinstance(value, str):
        return json.dumps(value) if isinstance(value, dict | list) else str(value)
    if isinstance(old, dict) and not isinstance(value, dict):
        raise ValueError(f"apply_overrides: {key!r} must be a JSON object, got {value!r}")
    return value


def _as_int(value: float, key: str) -> int:
    if float(value) != int(value):
        raise ValueError(f"apply_overrides: {key!r} must be an integer, got {value!r}")
    return int(value)


__all__ = [
    "AMP_MODES",
    "NOISE_KINDS",
    "CrappifyConfig",
    "CriticPretrainConfig",
    "CriticStage",
    "DataConfig",
    "FakesConfig",
    "GanConfig",
    "GenPretrainConfig",
    "GenStage",
    "LossConfig",
    "TrainConfig",
    "apply_overrides",
    "from_dict",
    "load_config",
    "save_config",
    "to_dict",
]
