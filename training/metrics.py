"""Colour-quality metrics for colorizers: chroma error, colourfulness, saturation, skin/neutral drift, noise stability.

All functions take RGB images in [0, 1] as torch tensors or numpy arrays, shaped ``[N, 3, H, W]`` or ``[3, H, W]``,
on any device, and return plain Python floats. They are used by the inflection-point picker
(:mod:`vs_colorize.training.inflection`) and are meant for any later quality report (colorizer vs a grey baseline vs an untrained
network): a grey image, the ground truth and any network output can all be scored the same way.

Formulas (documented here once; the functions refer to them):

* **CIELAB** from sRGB (IEC 61966-2-1 transfer curve, D65 white, XYZ matrix of the sRGB primaries):
  ``L* = 116 f(Y) - 16``, ``a* = 500 (f(X/Xn) - f(Y))``, ``b* = 200 (f(Y) - f(Z/Zn))`` with
  ``f(t) = t^(1/3)`` above ``(6/29)^3`` and ``t / (3 (6/29)^2) + 4/29`` below. Chroma ``C* = sqrt(a*² + b*²)``,
  hue angle ``h = atan2(b*, a*)`` in degrees. One just-noticeable difference is about 2.3 units.
* **Chroma error**: mean over pixels of ``|Δab| = sqrt(Δa*² + Δb*²)`` between prediction and ground truth. Lightness
  is left out on purpose: the model sees the true luma and the runtime keeps it.
* **Colourfulness** (Hasler & Süsstrunk 2003, on a 0–255 scale): ``rg = R - G``, ``yb = (R + G) / 2 - B``,
  ``M = sqrt(σ_rg² + σ_yb²) + 0.3 sqrt(μ_rg² + μ_yb²)`` per image, then averaged over images. A grey image gives 0;
  typical photographs give 20–60.
* **Saturation**: mean HSV saturation ``(max - min) / max`` over pixels (0 where ``max < 1/255``).
* **Skin mask** (on the ground truth): the Chai & Ngan (1999) YCbCr box, ``77 <= Cb <= 127`` and
  ``133 <= Cr <= 173`` (8-bit full-range BT.601), with luma ``30 <= Y <= 240`` to drop near-black and clipped
  pixels. It also catches wood, sand and similar warm tones, which DeOldify's "orange skin" glitch hits just the same.
* **Skin saturation drift**: mean ``C*_pred - C*_true`` over skin pixels (signed; > 0 = over-saturated, the
  "orange skin" of an over-trained GAN; < 0 = washed out).
* **Skin hue drift**: mean absolute circular hue difference (degrees) over skin pixels, each pixel weighted by
  ``sqrt(C*_pred · C*_true)``; pixels with ``C* < 2`` (below one JND) in either image have no defined hue and do
  not vote (0 if no skin pixel has colour in both).
* **Neutral mask** (on the ground truth): ``C* < 5`` and ``L* > 10`` (grey, white and concrete surfaces, not black).
* **Neutral cast**: mean ``C*_pred`` over neutral pixels — how much colour the model paints on things that have none.
* **Holdout set** (:func:`load_holdout`): colour photos centre-cropped square, resized (bilinear) and turned grey
  with Pillow's ``convert('L')`` (BT.601 luma, 8-bit), exactly the input DeOldify feeds its model.
* **Noise instability** (flicker proxy): mean ``|Δab|`` between the outputs for a grey input and for the same input
  plus small gaussian grain (same noise on the three channels). 0 = perfectly stable.

A mask that selects no pixel gives ``nan`` for its metrics (so "no skin in this set" is not confused with "no drift").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from vs_colorize.training.archs.imagenet import ColorizeWrapper

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "IMAGE_SUFFIXES",
    "colour_metrics",
    "colourfulness",
    "colourfulness_per_image",
    "generator_colorizer",
    "load_holdout",
    "luma",
    "mean_saturation",
    "neutral_mask",
    "noise_instability",
    "rgb_to_lab",
    "skin_mask",
    "swap_luma",
    "to_grey",
]

_BT601 = (0.299, 0.587, 0.114)
_SRGB_TO_XYZ = (
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)
_D65_WHITE = (0.95047, 1.0, 1.08883)
NEUTRAL_CHROMA = 5.0
NEUTRAL_MIN_L = 10.0
HUE_MIN_CHROMA = 2.0
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")


def _as_batch(img: torch.Tensor | np.ndarray, name: str, func: str) -> torch.Tensor:
    """Return ``img`` as a float tensor ``[N, 3, H, W]`` (numpy arrays become CPU tensors)."""
    t = torch.as_tensor(img)
    if t.ndim == 3:
        t = t.unsqueeze(0)
    if t.ndim != 4 or t.shape[1] != 3:
        raise ValueError(f"{func}: {name} must be RGB shaped [N,3,H,W] or [3,H,W], got {tuple(t.shape)}")
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def luma(rgb01: torch.Tensor | np.ndarray) -> torch.Tensor:
    """BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` as ``[N, 1, H, W]`` (the luma DeOldify feeds its model)."""
    t = _as_batch(rgb01, "rgb01", "luma")
    w = torch.tensor(_BT601, dtype=t.dtype, device=t.device).view(1, 3, 1, 1)
    return (t * w).sum(dim=1, keepdim=True)


def to_grey(rgb01: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Grey version of an RGB image: its BT.601 luma replicated on three channels, ``[N, 3, H, W]``."""
    return luma(rgb01).expand(-1, 3, -1, -1).contiguous()


def swap_luma(rgb01: torch.Tensor | np.ndarray, luma01: torch.Tensor | np.ndarray) -> torch.Tensor:
    """DeOldify's post-process: keep the colours of ``rgb01`` but the luma of ``luma01``.

    Adds ``Y(luma01) - Y(rgb01)`` to every channel and clips to [0, 1] (equal to OpenCV's YUV swap up to rounding).
    ``luma01`` may be an RGB image (its BT.601 luma is used) or a ``[N, 1, H, W]`` luma plane.
    """
    rgb = _as_batch(rgb01, "rgb01", "swap_luma")
    y_src = torch.as_tensor(luma01, device=rgb.device).to(rgb.dtype)
    if y_src.ndim == 3:
        y_src = y_src.unsqueeze(0)
    if y_src.shape[1] == 3:
        y_src = luma(y_src)
    return (rgb + (y_src - luma(rgb))).clamp(0.0, 1.0)


def rgb_to_lab(rgb01: torch.Tensor | np.ndarray) -> torch.Tensor:
    """sRGB in [0, 1] to CIELAB (D65), ``[N, 3, H, W]`` with channels L*, a*, b* (formula in the module docstring)."""
    t = _as_batch(rgb01, "rgb01", "rgb_to_lab").clamp(0.0, 1.0)
    lin = torch.where(t <= 0.04045, t / 12.92, ((t + 0.055) / 1.055) ** 2.4)
    m = torch.tensor(_SRGB_TO_XYZ, dtype=t.dtype, device=t.device)
    white = torch.tensor(_D65_WHITE, dtype=t.dtype, device=t.device).view(1, 3, 1, 1)
    xyz = torch.einsum("ij,njhw->nihw", m, lin) / white
    eps = (6.0 / 29.0) ** 3
    f = torch.where(xyz > eps, xyz.clamp_min(eps) ** (1.0 / 3.0), xyz / (3 * (6.0 / 29.0) ** 2) + 4.0 / 29.0)
    fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
    return torch.stack((116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)), dim=1)


def colourfulness_per_image(rgb01: torch.Tensor | np.ndarray, eps: float = 0.0) -> torch.Tensor:
    """Hasler–Süsstrunk colourfulness on a 0–255 scale per image, ``[N]``, differentiable (a loss uses it).

    ``eps`` is added under both square roots so that the gradient stays finite on grey images.
    """
    t = _as_batch(rgb01, "rgb01", "colourfulness_per_image").clamp(0.0, 1.0) * 255.0
    r, g, b = t[:, 0].flatten(1), t[:, 1].flatten(1), t[:, 2].flatten(1)
    rg, yb = r - g, 0.5 * (r + g) - b
    sigma = torch.sqrt(rg.var(dim=1, unbiased=False) + yb.var(dim=1, unbiased=False) + eps)
    mu = torch.sqrt(rg.mean(dim=1) ** 2 + yb.mean(dim=1) ** 2 + eps)
    return sigma + 0.3 * mu


def colourfulness(rgb01: torch.Tensor | np.ndarray) -> float:
    """Hasler–Süsstrunk colourfulness on a 0–255 scale, averaged over the batch (0 for grey images)."""
    return float(colourfulness_per_image(_as_batch(rgb01, "rgb01", "colourfulness")).mean())


def mean_saturation(rgb01: torch.Tensor | np.ndarray) -> float:
    """Mean HSV saturation ``(max - min) / max`` in [0, 1] over all pixels (0 where ``max < 1/255``)."""
    t = _as_batch(rgb01, "rgb01", "mean_saturation").clamp(0.0, 1.0)
    mx, mn = t.amax(dim=1), t.amin(dim=1)
    sat = torch.where(mx >= 1.0 / 255.0, (mx - mn) / mx.clamp_min(1.0 / 255.0), torch.zeros_like(mx))
    return float(sat.mean())


def skin_mask(rgb01: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Boolean ``[N, H, W]`` mask of skin-like pixels (Chai & Ngan YCbCr box, see the module docstring)."""
    t = _as_batch(rgb01, "rgb01", "skin_mask").clamp(0.0, 1.0) * 255.0
    r, g, b = t[:, 0], t[:, 1], t[:, 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128.0 + (b - y) * 0.564
    cr = 128.0 + (r - y) * 0.713
    return (cb >= 77) & (cb <= 127) & (cr >= 133) & (cr <= 173) & (y >= 30) & (y <= 240)


def neutral_mask(rgb01: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Boolean ``[N, H, W]`` mask of neutral pixels: CIELAB ``C* < 5`` and ``L* > 10``."""
    lab = rgb_to_lab(rgb01)
    chroma = torch.linalg.vector_norm(lab[:, 1:], dim=1)
    return (chroma < NEUTRAL_CHROMA) & (lab[:, 0] > NEUTRAL_MIN_L)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> float:
    n = int(mask.sum())
    return float(values[mask].sum() / n) if n else math.nan


def colour_metrics(
    pred_rgb01: torch.Tensor | np.ndarray, target_rgb01: torch.Tensor | np.ndarray
) -> dict[str, float]:
    """Score predicted colours against the ground truth (formulas in the module docstring).

    Args:
        pred_rgb01: predicted RGB in [0, 1], ``[N, 3, H, W]`` or ``[3, H, W]`` (tensor or array, any device).
        target_rgb01: ground-truth RGB in [0, 1], same shape.

    Returns:
        ``chroma_error`` (mean |Δab|), ``colourfulness``, ``colourfulness_target`` (Hasler–Süsstrunk) and
        ``colourfulness_gap`` (prediction minus target; > 0 = more colourful than the truth),
        ``colourfulness_shortfall`` (``max(-gap, 0)``: how much duller than the truth),
        ``saturation`` and ``saturation_target`` (HSV), ``skin_fraction``, ``skin_sat_drift`` (signed ΔC*),
        ``skin_hue_drift`` (degrees), ``neutral_fraction``, ``neutral_cast`` (C* on neutral pixels). Lower is
        better for the errors and drifts; the skin/neutral values are ``nan`` when their mask is empty.
    """
    pred = _as_batch(pred_rgb01, "pred_rgb01", "colour_metrics")
    target = _as_batch(target_rgb01, "target_rgb01", "colour_metrics").to(pred.device, pred.dtype)
    if pred.shape != target.shape:
        raise ValueError(
            f"colour_metrics: pred_rgb01 and target_rgb01 must have the same shape, "
            f"got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    lab_p, lab_t = rgb_to_lab(pred), rgb_to_lab(target)
    ab_p, ab_t = lab_p[:, 1:], lab_t[:, 1:]
    c_p = torch.linalg.vector_norm(ab_p, dim=1)
    c_t = torch.linalg.vector_norm(ab_t, dim=1)
    skin = skin_mask(target)
    neutral = (c_t < NEUTRAL_CHROMA) & (lab_t[:, 0] > NEUTRAL_MIN_L)

    h_p = torch.atan2(ab_p[:, 1], ab_p[:, 0])
    h_t = torch.atan2(ab_t[:, 1], ab_t[:, 0])
    dh = torch.remainder(h_p - h_t + math.pi, 2 * math.pi) - math.pi
    weight = torch.sqrt(c_p * c_t) * (skin & (c_p >= HUE_MIN_CHROMA) & (c_t >= HUE_MIN_CHROMA))
    wsum = float(weight.sum())
    if not bool(skin.any()):
        hue_drift = math.nan
    elif wsum > 0:
        hue_drift = math.degrees(float((weight * dh.abs()).sum()) / wsum)
    else:
        hue_drift = 0.0

    cf_pred, cf_target = colourfulness(pred), colourfulness(target)
    return {
        "chroma_error": float(torch.linalg.vector_norm(ab_p - ab_t, dim=1).mean()),
        "colourfulness": cf_pred,
        "colourfulness_target": cf_target,
        "colourfulness_gap": cf_pred - cf_target,
        "colourfulness_shortfall": max(cf_target - cf_pred, 0.0),
        "saturation": mean_saturation(pred),
        "saturation_target": mean_saturation(target),
        "skin_fraction": float(skin.float().mean()),
        "skin_sat_drift": _masked_mean(c_p - c_t, skin),
        "skin_hue_drift": hue_drift,
        "neutral_fraction": float(neutral.float().mean()),
        "neutral_cast": _masked_mean(c_p, neutral),
    }


def noise_instability(
    colorize: Callable[[torch.Tensor], torch.Tensor],
    grey_rgb01: torch.Tensor | np.ndarray,
    *,
    sigma: float = 0.03,
    seed: int = 0,
) -> float:
    """Flicker proxy: how much the output chroma moves when the grey input gets a little grain.

    Args:
        colorize: maps grey RGB in [0, 1] ``[N, 3, H, W]`` to colour RGB in [0, 1] of the same shape.
        grey_rgb01: the clean grey inputs (three equal channels), in [0, 1].
        sigma: standard deviation of the gaussian grain added to the luma, in (0, 0.5]; default 0.03
            (about 8 code values in 8 bit, a visible film grain).
        seed: seed of the noise, so that every checkpoint sees the same grain.

    Returns:
        Mean ``|Δab|`` (CIELAB) between the two outputs after both get the clean input's luma
        (DeOldify's post-process); 0 means perfectly stable.
    """
    if not 0.0 < sigma <= 0.5:
        raise ValueError(f"noise_instability: sigma must be in (0, 0.5], got {sigma}")
    grey = _as_batch(grey_rgb01, "grey_rgb01", "noise_instability")
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn((grey.shape[0], 1, *grey.shape[2:]), generator=gen).to(grey.device, grey.dtype)
    noisy = (grey + sigma * noise).clamp(0.0, 1.0)
    clean_out = swap_luma(colorize(grey), grey)
    noisy_out = swap_luma(colorize(noisy), grey)
    diff = rgb_to_lab(clean_out)[:, 1:] - rgb_to_lab(noisy_out)[:, 1:]
    return float(torch.linalg.vector_norm(diff, dim=1).mean())


def square_rgb(path: str | Path, size: int) -> Image.Image:
    """An image file as RGB, centre-cropped to a square and resized (bilinear) to ``size``×``size``."""
    from PIL import Image

    with Image.open(path) as im:
        rgb = im.convert("RGB")
    side = min(rgb.size)
    left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
    return rgb.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BILINEAR)


def load_holdout(holdout_dir: str | Path, *, size: int, max_images: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``max_images`` images of ``holdout_dir`` (sorted by name), centre-cropped square and resized to
    ``size`` (bilinear). Returns ``(colour, grey)``, both ``[N, 3, size, size]`` in [0, 1]; grey is Pillow's
    ``convert('L')`` replicated on three channels, exactly the input DeOldify feeds its model."""
    folder = Path(holdout_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"load_holdout: holdout_dir {folder} is not a directory")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:max_images]
    if not files:
        raise ValueError(f"load_holdout: holdout_dir {folder} holds no image ({', '.join(IMAGE_SUFFIXES)})")
    colour, grey = [], []
    for path in files:
        rgb = square_rgb(path, size)
        colour.append(np.asarray(rgb, dtype=np.float32) / 255.0)
        grey.append(np.asarray(rgb.convert("L").convert("RGB"), dtype=np.float32) / 255.0)

    def to_t(arrs: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()

    return to_t(colour), to_t(grey)


def generator_colorizer(
    gen: torch.nn.Module, *, device: str | torch.device = "cpu", batch_size: int = 8
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Wrap a DeOldify-style generator as a function grey RGB [0, 1] -> colour RGB [0, 1] (returned on the CPU).

    The wrapper does DeOldify's pre/post-processing (reference §8): ImageNet normalisation in, the network
    (whose output is normalised RGB), de-normalisation and clamping to [0, 1] out; no gradients; ``batch_size``
    images per forward pass on ``device``. The result feeds :func:`colour_metrics` (after :func:`swap_luma`) and
    :func:`noise_instability`.
    """
    dev = torch.device(device)
    wrapped = ColorizeWrapper(gen).to(dev)

    @torch.no_grad()
    def colorize(grey: torch.Tensor) -> torch.Tensor:
        return torch.cat([wrapped(chunk.to(dev)).cpu() for chunk in grey.split(batch_size)])

    return colorize
