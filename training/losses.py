"""Losses: DeOldify's VGG16-BN feature loss and the critic's adaptive BCE, small device-agnostic modules.

The feature loss takes the generator output and target in the generator's output space (ImageNet-normalised RGB),
which is also what VGG expects, exactly as DeOldify's ``FeatureLoss`` does. Its layers are chosen **by name**: the
modules just before the 3rd, 4th and 5th ``MaxPool2d`` of ``vgg16_bn().features`` (names ``"22"``, ``"32"``,
``"42"``; the ReLUs closing conv blocks 3–5).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vs_colorize.training.archs.imagenet import IMAGENET_MEAN, IMAGENET_STD
from vs_colorize.training.archs.safe_load import UnsafeFileError, load_hub_weights, load_weights
from vs_colorize.training.config import LossConfig
from vs_colorize.training.metrics import colourfulness_per_image, rgb_to_lab, swap_luma

log = logging.getLogger(__name__)

BASE_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "l1": F.l1_loss,
    "mse": F.mse_loss,
    "smooth_l1": F.smooth_l1_loss,
}
#: VGG16's configuration "D": conv widths and max-pools ("M").
VGG16_CFG: tuple[int | str, ...] = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    "M",
)
#: Which max-pools' preceding layers DeOldify's feature loss uses (0-based: pools 3, 4 and 5).
FEATURE_POOLS = (2, 3, 4)


def base_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A pixel loss by name (``l1``, ``mse``, ``smooth_l1``)."""
    if name not in BASE_LOSSES:
        raise ValueError(f"base_loss: name must be one of {sorted(BASE_LOSSES)}, got {name!r}")
    return BASE_LOSSES[name]


def vgg16_bn_features(weights: str) -> nn.Sequential:
    """``torchvision.models.vgg16_bn().features`` (same layers and names) with the weights named by ``weights``.

    Args:
        weights: ``"imagenet"`` (``VGG16_BN_Weights.IMAGENET1K_V1`` through torchvision's weights API: read from
            the torch hub cache, downloaded only if missing and the network allows), a path to a local state dict
            (a whole ``vgg16_bn`` state dict or just its ``features``), or ``"random"`` (fixed-seed random init,
            for offline smoke runs; logged as a WARNING because the loss is then not DeOldify's).
    """
    # Only the convolutional part is built (the classifier's 120 M parameters are never used), without importing
    # torchvision unless its weights are asked for.
    features = vgg16_bn_layers()
    if weights == "random":
        log.warning("feature loss: VGG16-BN has RANDOM weights (vgg_weights=random); not DeOldify's loss")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            _vgg_init(features)
        return features
    if weights == "imagenet":
        from torchvision.models import VGG16_BN_Weights

        try:
            state = load_hub_weights(VGG16_BN_Weights.IMAGENET1K_V1, "vgg16_bn_features: cached file")
        except UnsafeFileError:
            raise
        except Exception as err:
            raise RuntimeError(
                "vgg16_bn_features: could not load torchvision's VGG16_BN_Weights.IMAGENET1K_V1 "
                f"({type(err).__name__}: {err}); put vgg16_bn-6c64b313.pth in $TORCH_HOME/hub/checkpoints, "
                "pass vgg_weights=PATH, or vgg_weights=random for an offline smoke run"
            ) from err
    else:
        path = Path(weights)
        if not path.is_file():
            raise ValueError(
                f"vgg16_bn_features: weights must be 'imagenet', 'random' or a file; {weights!r} is none"
            )
        state = load_weights(path, "vgg16_bn_features: weights")
        if not isinstance(state, dict):
            raise ValueError(
                f"vgg16_bn_features: weights {weights!r} holds a {type(state).__name__}, expected a state dict"
            )
    if any(k.startswith("features.") for k in state):
        state = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    features.load_state_dict(state)
    return features


def vgg16_bn_layers() -> nn.Sequential:
    """The layers of ``torchvision.models.vgg16_bn().features`` (configuration "D" with BatchNorm), same names."""
    layers: list[nn.Module] = []
    channels = 3
    for v in VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [
                nn.Conv2d(channels, int(v), 3, padding=1),
                nn.BatchNorm2d(int(v)),
                nn.ReLU(inplace=True),
            ]
            channels = int(v)
    return nn.Sequential(*layers)


def _vgg_init(features: nn.Sequential) -> None:
    """torchvision's VGG initialisation (Kaiming-normal convs, unit BatchNorm)."""
    for m in features.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def layers_before_pools(features: nn.Sequential) -> list[str]:
    """Names of the children of ``features`` that come just before each ``MaxPool2d``."""
    names = [name for name, _ in features.named_children()]
    mods = list(features.children())
    return [names[i - 1] for i, m in enumerate(mods) if isinstance(m, nn.MaxPool2d) and i > 0]


class FeatureLoss(nn.Module):
    """``pixel_weight·base(pred, target) + Σ_i w_i·base(φ_i(pred), φ_i(target))`` (DeOldify's ``FeatureLoss``).

    Args:
        features: a VGG-style ``nn.Sequential`` (frozen and kept in eval mode here).
        layer_names: children of ``features`` whose outputs are compared.
        layer_weights: one weight per layer (DeOldify: 20, 70, 10).
        pixel_weight: weight of the pixel term (DeOldify: 1).
        base: the distance, by name (:data:`BASE_LOSSES`).

    After a call, ``terms`` holds the detached parts (``pixel``, ``feat_<name>``) for logging.
    """

    def __init__(
        self,
        features: nn.Sequential,
        layer_names: Sequence[str],
        layer_weights: Sequence[float],
        pixel_weight: float = 1.0,
        base: str = "l1",
    ) -> None:
        super().__init__()
        if len(layer_names) != len(layer_weights):
            raise ValueError(
                f"FeatureLoss: layer_weights has {len(layer_weights)} entries for {len(layer_names)} layers"
            )
        names = [n for n, _ in features.named_children()]
        missing = [n for n in layer_names if n not in names]
        if missing:
            raise ValueError(f"FeatureLoss: layer_names {missing} are not children of features")
        last = max(names.index(n) for n in layer_names)
        self.features = nn.Sequential(*list(features.children())[: last + 1]).eval()
        self.features.requires_grad_(False)
        self.layer_names = list(layer_names)
        self.layer_weights = [float(w) for w in layer_weights]
        self.pixel_weight = float(pixel_weight)
        self.base = base_loss(base)
        self._index = {str(i): n for i, n in enumerate(names[: last + 1])}
        self.terms: dict[str, float] = {}

    def train(self, mode: bool = True) -> FeatureLoss:
        """Set the mode; VGG always stays in eval mode (frozen BatchNorm statistics)."""
        super().train(mode)
        self.features.eval()
        return self

    def extract(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The activations at :attr:`layer_names`, in order."""
        out: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            name = self._index[str(i)]
            if name in self.layer_names:
                out[name] = x
        return [out[n] for n in self.layer_names]

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The scalar loss of ``pred`` against ``target`` (both ``[N, 3, H, W]``, ImageNet-normalised)."""
        pixel = self.base(pred, target)
        total = self.pixel_weight * pixel
        terms = {"pixel": float(pixel.detach())}
        self.terms = terms
        if not any(self.layer_weights):  # every feature term weighted 0: VGG is not run at all
            return total
        with torch.no_grad():
            tf = self.extract(target)
        pf = self.extract(pred)
        for name, w, a, b in zip(self.layer_names, self.layer_weights, pf, tf, strict=True):
            part = self.base(a, b)
            terms[f"feat_{name}"] = float(part.detach())
            total = total + w * part
        self.terms = terms
        return total


def build_feature_loss(cfg: LossConfig) -> FeatureLoss:
    """DeOldify's feature loss from a :class:`vs_colorize.training.config.LossConfig` (its VGG and pixel terms)."""
    features = vgg16_bn_features(cfg.vgg_weights)
    names = [layers_before_pools(features)[i] for i in FEATURE_POOLS]
    return FeatureLoss(features, names, cfg.layer_weights, cfg.pixel_weight, cfg.base)


class GeneratorLoss(nn.Module):
    """The generator's loss: DeOldify's :class:`FeatureLoss` plus two optional colour terms.

    * ``chroma_weight · mean|Δab| / 100``: the CIELAB chroma error of the prediction, with the target's luma put
      back first as the runtime does (:func:`vs_colorize.training.metrics.swap_luma`), against the target. It is
      the quality report's chroma error, so the loss aims at the number users see; the pixel and feature terms
      also pay for the luma the runtime throws away.
    * ``colourfulness_weight · mean(max(0, M(target) - M(pred))) / 100``: a hinge on the Hasler–Süsstrunk
      colourfulness ``M`` (0–255 scale) of each image. An L1-type loss under uncertainty pays least for the
      average colour, so its outputs are duller than photographs; this term charges for every unit of
      colourfulness *below* the truth's and nothing above it, so it lifts timid outputs without rewarding
      colour that is not in the photo (the chroma term still charges for the wrong hue). DDColor's
      colourfulness loss has the same aim; this is a one-sided version relative to each target.

    Both inputs are in the generator's output space (ImageNet-normalised RGB). After a call ``terms`` holds the
    detached parts for logging (those of :class:`FeatureLoss`, plus ``chroma`` and ``colourfulness``).
    """

    def __init__(
        self, feature: FeatureLoss, chroma_weight: float = 0.0, colourfulness_weight: float = 0.0
    ) -> None:
        super().__init__()
        self.feature = feature
        self.chroma_weight = float(chroma_weight)
        self.colourfulness_weight = float(colourfulness_weight)
        self.terms: dict[str, float] = {}

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The scalar loss of ``pred`` against ``target`` (both ``[N, 3, H, W]``, ImageNet-normalised)."""
        total = self.feature(pred, target)
        terms = dict(self.feature.terms)
        if self.chroma_weight or self.colourfulness_weight:
            mean = pred.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
            std = pred.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
            p01 = (pred * std + mean).clamp(0.0, 1.0)
            t01 = (target * std + mean).clamp(0.0, 1.0)
            if self.chroma_weight:
                ab_p = rgb_to_lab(swap_luma(p01, t01))[:, 1:]
                ab_t = rgb_to_lab(t01)[:, 1:]
                # +1e-6 under the root keeps the gradient finite where the error is exactly zero
                chroma = torch.sqrt(((ab_p - ab_t) ** 2).sum(dim=1) + 1e-6).mean() / 100.0
                terms["chroma"] = float(chroma.detach())
                total = total + self.chroma_weight * chroma
            if self.colourfulness_weight:
                gap = colourfulness_per_image(t01) - colourfulness_per_image(p01, eps=1e-6)
                colour = gap.clamp_min(0.0).mean() / 100.0
                terms["colourfulness"] = float(colour.detach())
                total = total + self.colourfulness_weight * colour
        self.terms = terms
        return total


def build_generator_loss(cfg: LossConfig) -> GeneratorLoss:
    """The generator's whole loss from a :class:`vs_colorize.training.config.LossConfig`."""
    return GeneratorLoss(build_feature_loss(cfg), cfg.chroma_weight, cfg.colourfulness_weight)


class AdaptiveBCE(nn.Module):
    """BCE-with-logits whose per-image target is expanded to the critic's ``[N, k]`` logits (fastai ``AdaptiveLoss``)."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean BCE of ``logits [N, k]`` against per-image labels ``target [N]``."""
        expanded = target.view(-1, *([1] * (logits.dim() - 1))).expand_as(logits).to(logits.dtype)
        return F.binary_cross_entropy_with_logits(logits, expanded)


def critic_loss(bce: AdaptiveBCE, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``(BCE(real, 1) + BCE(fake, 0)) / 2`` — fastai's ``gan_loss_from_func`` critic part."""
    ones = real_logits.new_ones(real_logits.shape[0])
    zeros = fake_logits.new_zeros(fake_logits.shape[0])
    return (bce(real_logits, ones) + bce(fake_logits, zeros)) / 2
