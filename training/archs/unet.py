"""DeOldify's U-Net generators (``DynamicUnetWide`` / ``DynamicUnetDeep``), built without hooks.

The top-level children live in ``self.layers`` so the state-dict keys are DeOldify's
``layers.N…`` (reference/deoldify/README.md §4.3)::

    0 encoder  1 BN(C4)  2 ReLU  3 middle conv  4-7 U-Net blocks  8 FinalUp
    9 dense merge  10 ResBlock  11 final 1x1 conv  12 SigmoidRange (or Identity)

The encoder hands its skip features to the blocks explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import torch
from torch import Tensor, nn

from .config import PRESETS, GeneratorConfig
from .layers import FinalUp, MergeDense, PixelShuffleUp, ResBlock, SigmoidRange, conv_block, resize_to
from .norms import SNConv
from .pretrained import load_pretrained_encoder
from .resnet import ResNetEncoder


class UnetBlockWide(nn.Module):
    """DeOldify ``UnetBlockWide``: ``Up(C_up → n/2)``, resize to the skip, ``relu(cat[up, bn(skip)])``,
    one ConvBlock to ``n/2`` channels (keys ``shuf``, ``bn``, ``conv``).

    Args:
        up_in: channels coming up from below.
        skip_in: channels of the skip feature.
        n_out: block width ``n`` (output has ``n // 2`` channels).
        self_attention: add SelfAttention after the conv.
        blur: blur in the upsampler.
    """

    def __init__(self, up_in: int, skip_in: int, n_out: int, self_attention: bool, blur: bool) -> None:
        super().__init__()
        half = n_out // 2
        self.shuf = PixelShuffleUp(up_in, half, blur=blur)
        self.bn = nn.BatchNorm2d(skip_in)
        self.conv = conv_block(half + skip_in, half, self_attention=self_attention)
        self.relu = nn.ReLU(inplace=True)
        self.out_channels = half

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        up = resize_to(self.shuf(x), skip)
        return self.conv(self.relu(torch.cat([up, self.bn(skip)], dim=1)))


class UnetBlockDeep(nn.Module):
    """DeOldify ``UnetBlockDeep``: ``Up(C_up → C_up/2)``, resize, ``relu(cat[up, bn(skip)])``, then
    ``conv1`` and ``conv2`` (keys ``shuf``, ``bn``, ``conv1``, ``conv2``).

    Args:
        up_in: channels coming up from below.
        skip_in: channels of the skip feature.
        nf_factor: width factor; ``nf = int(ni·nf_factor)``, or ``int((ni//2)·nf_factor)`` for the
            last block, with ``ni = up_in//2 + skip_in``.
        final: whether this is the last (highest-resolution) block.
        self_attention: add SelfAttention after ``conv2``.
        blur: blur in the upsampler.
    """

    def __init__(
        self, up_in: int, skip_in: int, nf_factor: float, final: bool, self_attention: bool, blur: bool
    ) -> None:
        super().__init__()
        self.shuf = PixelShuffleUp(up_in, up_in // 2, blur=blur)
        self.bn = nn.BatchNorm2d(skip_in)
        ni = up_in // 2 + skip_in
        nf = int((ni // 2 if final else ni) * nf_factor)
        self.conv1 = conv_block(ni, nf)
        self.conv2 = conv_block(nf, nf, self_attention=self_attention)
        self.relu = nn.ReLU(inplace=True)
        self.out_channels = nf

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        up = resize_to(self.shuf(x), skip)
        return self.conv2(self.conv1(self.relu(torch.cat([up, self.bn(skip)], dim=1))))


class UnetGenerator(nn.Module):
    """The colorization U-Net. Build it with :func:`build_generator`.

    ``forward(x)`` takes ``[N, n_in, H, W]`` (ImageNet-normalised RGB for colorization) with even
    ``H`` and ``W`` and returns ``[N, n_out, H, W]`` inside ``y_range`` (DeOldify: normalised RGB in
    (−3, 3)). Sides that are not multiples of 32 work as in DeOldify (legacy nearest skip resize).

    Attributes:
        config: the :class:`GeneratorConfig` it was built from.
        source_sha256: sha256 of the checkpoint file it was loaded from (``None`` if built fresh).
    """

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        self.source_sha256: str | None = None
        encoder = ResNetEncoder(config.encoder, config.encoder_width, config.n_in)
        c4 = encoder.out_channels
        layers: list[nn.Module] = [
            encoder,
            nn.BatchNorm2d(c4),
            nn.ReLU(inplace=True),
            nn.Sequential(conv_block(c4, c4 * 2), conv_block(c4 * 2, c4)),
        ]
        up_in = c4
        skips = encoder.skip_channels[::-1]
        for i, skip_in in enumerate(skips):
            final = i == len(skips) - 1
            sa = config.self_attention and i == len(skips) - 3
            block: UnetBlockWide | UnetBlockDeep
            if config.decoder == "wide":
                nf = int(512 * config.nf_factor)
                block = UnetBlockWide(up_in, skip_in, nf // 2 if final else nf, sa, config.blur)
            else:
                block = UnetBlockDeep(up_in, skip_in, config.nf_factor, final, sa, config.blur)
            layers.append(block)
            up_in = block.out_channels
        n_cat = up_in + config.n_in
        layers += [
            FinalUp(up_in, blur=config.blur),
            MergeDense(),
            ResBlock(n_cat),
            nn.Sequential(SNConv(n_cat, config.n_out, 1, bias=True)),
            nn.Identity() if config.y_range is None else SigmoidRange(*config.y_range),
        ]
        self.layers = nn.ModuleList(layers)
        _init_decoder(self)

    def forward(self, x: Tensor) -> Tensor:
        if not (torch.compiler.is_compiling() or torch.jit.is_tracing()):
            _check_input(x, self.config.n_in)
        stem, l1, l2, l3, l4 = self.layers[0](x)
        skips = (l3, l2, l1, stem)
        if self.config.detach_skips:
            skips = tuple(s.detach() for s in skips)
        y = self.layers[3](self.layers[2](self.layers[1](l4)))
        for block, skip in zip(self.layers[4:8], skips, strict=True):
            y = block(y, skip)
        y = self.layers[9](self.layers[8](y), x)
        return self.layers[12](self.layers[11](self.layers[10](y)))


def _check_input(x: Tensor, n_in: int) -> None:
    where = "UnetGenerator.forward"
    if x.dim() != 4 or x.shape[1] != n_in:
        raise ValueError(f"{where}: x must be [N, {n_in}, H, W], got shape {list(x.shape)}")
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        raise ValueError(
            f"{where}: x must have even height and width (DeOldify's U-Net cannot restore an odd "
            f"side), got {h}x{w}; pad or resize to an even size first"
        )


def _init_decoder(model: UnetGenerator) -> None:
    """fastai's ``batchnorm_2d`` init (weight 1, bias 1e-3) for the skip BNs and the post-encoder BN."""
    blocks = cast("Iterable[UnetBlockWide | UnetBlockDeep]", model.layers[4:8])
    bns = [cast(nn.BatchNorm2d, model.layers[1])] + [block.bn for block in blocks]
    with torch.no_grad():
        for bn in bns:
            bn.weight.fill_(1.0)
            bn.bias.fill_(1e-3)


def build_generator(
    config: str | GeneratorConfig, pretrained_encoder: bool | str | None = None
) -> UnetGenerator:
    """Build a generator from a preset name or a :class:`GeneratorConfig`. Never downloads
    unless ``pretrained_encoder=True``.

    Args:
        config: ``"video"``, ``"stable"`` (ResNet-101, wide decoder, nf_factor 2), ``"artistic"``
            (ResNet-34, deep, 1.5), ``"tiny"`` (narrow ResNet-18-style, deep, 1.0), or a config.
        pretrained_encoder: ``None``/``False`` (default): random init. ``True``: torchvision's
            ImageNet ``IMAGENET1K_V1`` weights for the encoder (downloaded through torch.hub's cache
            if absent; only for ``encoder_width`` 64 and ``n_in`` 3). A path: a local torchvision
            ResNet state dict file.

    Returns:
        The model in train mode (call ``.eval()`` for inference).
    """
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(
                f"build_generator: config must be one of {sorted(PRESETS)} or a GeneratorConfig, got {config!r}"
            )
        cfg = PRESETS[config]
    elif isinstance(config, GeneratorConfig):
        cfg = config
    else:
        raise TypeError(f"build_generator: config must be a preset name or GeneratorConfig, got {config!r}")
    model = UnetGenerator(cfg)
    if pretrained_encoder:
        load_pretrained_encoder(cast(ResNetEncoder, model.layers[0]), cfg, pretrained_encoder)
    return model
