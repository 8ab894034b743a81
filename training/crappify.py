"""Crappify for colorization: a colour image becomes the generator's degraded grey input.

Order (one numpy ``Generator`` drives every random choice, so a seed fixes the result):

1. luma, exactly Pillow's ``Image.convert('L')`` (ITU-R BT.601 weights in 16-bit fixed point), as DeOldify's
   ``convert('LA').convert('RGB')`` does;
2. optional JPEG re-encoding (``jpeg_p``) and gaussian blur (``blur_p``), on the 8-bit grey image;
3. fastai lighting (DeOldify uses ``max_lighting=0.5``): in logit space, ``(logit(x) + logit(change))·scale`` with
   ``change ~ U(0.5·(1-m), 0.5·(1+m))`` and ``log(scale) ~ U(log(1-m), -log(1-m))``, each applied with
   probability ``p_lighting``;
4. optional noise: DeOldify's ``noisify`` (a random 0.1–40 % of the pixels each get an integer offset in
   ``[-noise_range, noise_range)``/255) or gaussian grain; probability ``noise_p``;
5. clip to [0, 1] and replicate to three channels (the input stays exactly grey).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from vs_colorize.training.config import NOISE_KINDS, CrappifyConfig

_EPS = 1e-6


@dataclass(frozen=True)
class CrappifyRecord:
    """The random choices one :func:`crappify` call made (``None`` = that step was not applied)."""

    jpeg_quality: int | None
    blur_sigma: float | None
    brightness: float | None
    contrast: float | None
    noise: float | None


def luma_u8(rgb: np.ndarray) -> np.ndarray:
    """Pillow's ``convert('L')`` of an 8-bit RGB array ``[H, W, 3]``, bit-exact: ``(R·19595 + G·38470 + B·7471 +
    2^15) >> 16``."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"luma_u8: rgb must be uint8 [H, W, 3], got {rgb.dtype} {rgb.shape}")
    c = rgb.astype(np.uint32)
    return ((c[..., 0] * 19595 + c[..., 1] * 38470 + c[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint8)


def lighting(
    x: np.ndarray, rng: np.random.Generator, max_lighting: float, p: float
) -> tuple[np.ndarray, float | None, float | None]:
    """fastai's random brightness then contrast on ``x`` in [0, 1]; returns ``(out, change, scale)``.

    Both parameters are always drawn (fixed random stream); each is applied with probability ``p``.
    """
    if max_lighting <= 0:
        return x, None, None
    change = float(rng.uniform(0.5 * (1 - max_lighting), 0.5 * (1 + max_lighting)))
    scale = float(math.exp(rng.uniform(math.log(1 - max_lighting), -math.log(1 - max_lighting))))
    use_b, use_c = bool(rng.random() < p), bool(rng.random() < p)
    if not (use_b or use_c):
        return x, None, None
    t = np.clip(x, _EPS, 1 - _EPS)
    logit = np.log(t / (1 - t))
    if use_b:
        logit = logit + math.log(change / (1 - change))
    if use_c:
        logit = logit * scale
    out = 1.0 / (1.0 + np.exp(-logit))
    return out.astype(np.float32), (change if use_b else None), (scale if use_c else None)


def noisify(x: np.ndarray, rng: np.random.Generator, pct: tuple[float, float], noise_range: int) -> float:
    """DeOldify's video-recipe noise, in place on a grey ``[H, W]`` array; returns the fraction of pixels hit."""
    if not 0 <= noise_range <= 255:
        raise ValueError(f"noisify: noise_range must be in 0..255, got {noise_range}")
    frac = float(rng.uniform(*pct))
    count = int(x.size * frac)
    idx = rng.integers(0, x.size, size=count)
    offsets = rng.integers(-noise_range, noise_range, size=count).astype(np.float32) / 255.0
    np.add.at(x.reshape(-1), idx, offsets)
    return frac


def crappify(
    rgb: np.ndarray, cfg: CrappifyConfig, rng: np.random.Generator
) -> tuple[np.ndarray, CrappifyRecord]:
    """Degrade an 8-bit RGB array ``[H, W, 3]`` into a float32 grey ``[H, W, 3]`` input in [0, 1].

    Args:
        rgb: the colour target as uint8.
        cfg: strengths and probabilities (:class:`vs_colorize.training.config.CrappifyConfig`).
        rng: the random stream; the same seed gives the same output.

    Returns:
        ``(grey3, record)``: three identical channels, and the random choices made.
    """
    if cfg.noise not in NOISE_KINDS:
        raise ValueError(f"crappify: cfg.noise must be one of {NOISE_KINDS}, got {cfg.noise!r}")
    grey = luma_u8(rgb)
    quality: int | None = None
    if cfg.jpeg_p > 0 and rng.random() < cfg.jpeg_p:
        quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
        buf = io.BytesIO()
        Image.fromarray(grey, "L").save(buf, format="JPEG", quality=quality)
        grey = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))
    sigma: float | None = None
    if cfg.blur_p > 0 and rng.random() < cfg.blur_p:
        sigma = float(rng.uniform(*cfg.blur_sigma))
        grey = np.asarray(Image.fromarray(grey, "L").filter(ImageFilter.GaussianBlur(sigma)))
    x = grey.astype(np.float32) / 255.0
    x, change, scale = lighting(x, rng, cfg.max_lighting, cfg.p_lighting)
    noise: float | None = None
    if cfg.noise != "none" and rng.random() < cfg.noise_p:
        x = np.array(x, dtype=np.float32, copy=True)
        if cfg.noise == "noisify":
            noise = noisify(x, rng, cfg.noise_pct, cfg.noise_range)
        else:
            noise = float(rng.uniform(*cfg.grain_sigma))
            x += rng.normal(0.0, noise, size=x.shape).astype(np.float32)
    x = np.clip(x, 0.0, 1.0)
    record = CrappifyRecord(
        jpeg_quality=quality, blur_sigma=sigma, brightness=change, contrast=scale, noise=noise
    )
    return np.repeat(x[..., None], 3, axis=2), record
