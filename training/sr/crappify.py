"""PSSR-style "crappifier": synthetic low-resolution, low-SNR frames from high-resolution ones.

The Salk/fast.ai PSSR recipe trains a restorer on pairs made by degrading good images ("crappify, then
decrappify"). :func:`crappify` applies, in this order and each only when its level is non-zero:

1. **salt & pepper** — a fraction ``salt_pepper`` of pixels set to 0 or 1 (hot/dead detector pixels);
2. **Poisson (shot) noise** — the image is read as a photon count with ``poisson_peak`` photons at intensity 1,
   resampled from a Poisson law and divided back (lower peak = noisier; 0 disables);
3. **local-variance Gaussian noise** — zero-mean noise whose variance is ``localvar_scale`` times the
   Gaussian-blurred (σ = ``localvar_sigma`` px) image, PSSR's ``random_noise(mode='localvar')``: bright
   structures get more noise, like signal-dependent detector noise;
4. **Gaussian (read) noise** — additive, standard deviation ``gaussian_sigma`` (intensity units, image in [0,1]);
5. **spread** — the whole frame (one draw per stack) is multiplied by a gain drawn uniformly from ``[1 − spread, 1 + spread]``
   (laser power / exposure varies between acquisitions);
6. **downsampling** by ``scale`` (4 default, 2 possible) with area averaging (pixel binning, what a camera with
   ``scale``× larger pixels records), then clipping to [0, 1].

Noise levels are explicit because they decide what the model can learn. Noise is added at high resolution and
binning by ``scale`` divides the standard deviation of white noise by ``scale`` (see :func:`lr_noise_std`). With the
defaults (Gaussian σ 0.08, local-variance scale 0.05, Poisson peak 200) an LR frame at 4× has noise std ≈ 0.046 at
intensity 0.5 (SNR ≈ 11) and ≈ 0.033 at intensity 0.2 (SNR ≈ 6). Much stronger high-frequency noise (HR σ ≳ 0.3)
buries membranes and filaments that are one or two LR pixels wide, and the network then learns to erase them
instead of sharpening them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

import numpy as np

SCALES: tuple[int, ...] = (2, 4)


@dataclass(frozen=True, kw_only=True)
class SRCrappifyConfig:
    """All crappifier parameters (intensities are in [0,1] image units).

    Args:
        scale: downsampling factor, 2 or 4 (default 4).
        gaussian_sigma: std of additive Gaussian noise, >= 0 (default 0.08).
        poisson_peak: photons at intensity 1 for shot noise, 0 disables, else >= 1 (default 200).
        localvar_scale: local-variance noise = this × blurred image as variance, >= 0 (default 0.05).
        localvar_sigma: Gaussian blur σ in px for the local variance map, > 0 (default 3.0).
        salt_pepper: fraction of pixels forced to 0 or 1, in [0, 0.5] (default 0.005).
        spread: half-width of the random gain range [1−spread, 1+spread], in [0, 1) (default 0.2).
        clean_fraction: share of training tuples made by plain area downsampling, without any noise (default 0;
            the shipped model uses 0.3 so that it also sharpens clean input instead of smoothing it).
    """

    scale: int = 4
    gaussian_sigma: float = 0.08
    poisson_peak: float = 200.0
    localvar_scale: float = 0.05
    localvar_sigma: float = 3.0
    salt_pepper: float = 0.005
    spread: float = 0.2
    clean_fraction: float = 0.0

    def __post_init__(self) -> None:
        checks = {
            "scale": self.scale in SCALES,
            "gaussian_sigma": self.gaussian_sigma >= 0,
            "poisson_peak": self.poisson_peak == 0 or self.poisson_peak >= 1,
            "localvar_scale": self.localvar_scale >= 0,
            "localvar_sigma": self.localvar_sigma > 0,
            "salt_pepper": 0 <= self.salt_pepper <= 0.5,
            "spread": 0 <= self.spread < 1,
            "clean_fraction": 0 <= self.clean_fraction <= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"SRCrappifyConfig: {name} is out of range, got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def lr_noise_std(intensity: float, cfg: SRCrappifyConfig) -> float:
    """Expected noise std of an LR pixel over a flat HR region of ``intensity`` (salt & pepper and spread excluded).

    Shot, local-variance and read noise are independent per HR pixel, so their variances add
    (``I/peak + localvar_scale·I + σ²``) and area binning over ``scale²`` pixels divides the std by ``scale``.
    """
    var = intensity * cfg.localvar_scale + cfg.gaussian_sigma**2
    if cfg.poisson_peak > 0:
        var += intensity / cfg.poisson_peak
    return float(np.sqrt(var)) / cfg.scale


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a 2-D float image with reflected borders (radius ⌈3σ⌉)."""
    radius = max(1, int(np.ceil(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    out = np.asarray(image, dtype=np.float64)
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect" if out.shape[axis] > radius else "edge")
        windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1, axis=axis)
        out = windows @ kernel
    return out


def downsample_area(image: np.ndarray, scale: int) -> np.ndarray:
    """Average ``scale``×``scale`` blocks (pixel binning); trailing rows/columns that do not fill a block are dropped."""
    h, w = image.shape[0] // scale, image.shape[1] // scale
    if h == 0 or w == 0:
        raise ValueError(f"downsample_area: image {image.shape} is smaller than scale {scale}")
    blocks = image[: h * scale, : w * scale].reshape(h, scale, w, scale)
    return blocks.mean(axis=(1, 3))


def draw_gain(cfg: SRCrappifyConfig, rng: np.random.Generator) -> float:
    """The random intensity gain of step 5, uniform in ``[1 − spread, 1 + spread]``."""
    return float(rng.uniform(1 - cfg.spread, 1 + cfg.spread)) if cfg.spread > 0 else 1.0


def add_noise(image: np.ndarray, cfg: SRCrappifyConfig, rng: np.random.Generator, gain: float) -> np.ndarray:
    """Steps 1–5 of the module docstring at full resolution; returns float64, not yet clipped."""
    x = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    if cfg.salt_pepper > 0:
        u = rng.random(x.shape)
        x = np.where(u < cfg.salt_pepper / 2, 0.0, x)
        x = np.where(u > 1 - cfg.salt_pepper / 2, 1.0, x)
    if cfg.poisson_peak > 0:
        x = rng.poisson(x * cfg.poisson_peak) / cfg.poisson_peak
    if cfg.localvar_scale > 0:
        var = np.clip(gaussian_blur(x, cfg.localvar_sigma), 0.0, None) * cfg.localvar_scale
        x = x + rng.standard_normal(x.shape) * np.sqrt(var)
    if cfg.gaussian_sigma > 0:
        x = x + rng.standard_normal(x.shape) * cfg.gaussian_sigma
    return x * gain


def crappify(
    image: np.ndarray, cfg: SRCrappifyConfig, rng: np.random.Generator, gain: float | None = None
) -> np.ndarray:
    """Degrade one HR frame (2-D, values in [0,1]) into an LR frame of shape ``(H // scale, W // scale)``.

    ``gain`` fixes the spread gain (default: drawn from ``rng``). Deterministic for a given ``rng`` state.
    Returns float32 in [0, 1].
    """
    if image.ndim != 2:
        raise ValueError(f"crappify: image must be 2-D (H, W), got shape {image.shape}")
    noisy = add_noise(image, cfg, rng, draw_gain(cfg, rng) if gain is None else gain)
    return np.clip(downsample_area(noisy, cfg.scale), 0.0, 1.0).astype(np.float32)


def crappify_stack(frames: np.ndarray, cfg: SRCrappifyConfig, rng: np.random.Generator) -> np.ndarray:
    """Crappify each frame of a ``(T, H, W)`` stack with independent noise and one shared gain.

    One gain per stack models one acquisition: the illumination is steady within a movie, the noise is not.
    """
    if frames.ndim != 3:
        raise ValueError(f"crappify_stack: frames must be 3-D (T, H, W), got shape {frames.shape}")
    gain = draw_gain(cfg, rng)
    return np.stack([crappify(f, cfg, rng, gain) for f in frames])


def without_noise(cfg: SRCrappifyConfig) -> SRCrappifyConfig:
    """``cfg`` with every noise level at 0: plain area downsampling (the gain spread kept)."""
    return dataclasses.replace(cfg, salt_pepper=0.0, poisson_peak=0.0, localvar_scale=0.0, gaussian_sigma=0.0)
