"""Image-quality and temporal-stability metrics on float images in [0, 1] (numpy)."""

from __future__ import annotations

import numpy as np

from .crappify import gaussian_blur

SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2


def psnr(x: np.ndarray, ref: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for data range 1 (inf for identical images)."""
    mse = float(np.mean((np.asarray(x, np.float64) - np.asarray(ref, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def ssim(x: np.ndarray, ref: np.ndarray, sigma: float = 1.5) -> float:
    """Mean structural similarity of two 2-D images (Gaussian window σ=1.5, Wang et al. constants, range 1)."""
    if x.shape != ref.shape or x.ndim != 2:
        raise ValueError(f"ssim: x and ref must be 2-D of one shape, got {x.shape} and {ref.shape}")
    a, b = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    mu_a, mu_b = gaussian_blur(a, sigma), gaussian_blur(b, sigma)
    var_a = gaussian_blur(a * a, sigma) - mu_a**2
    var_b = gaussian_blur(b * b, sigma) - mu_b**2
    cov = gaussian_blur(a * b, sigma) - mu_a * mu_b
    num = (2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)
    den = (mu_a**2 + mu_b**2 + SSIM_C1) * (var_a + var_b + SSIM_C2)
    return float(np.mean(num / den))


def flicker(frames: np.ndarray) -> float:
    """Mean absolute frame-to-frame difference of a ``(T, H, W)`` movie (T >= 2)."""
    if frames.ndim != 3 or frames.shape[0] < 2:
        raise ValueError(f"flicker: frames must be (T>=2, H, W), got {frames.shape}")
    return float(np.mean(np.abs(np.diff(np.asarray(frames, np.float64), axis=0))))


def error_flicker(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean |e_t − e_{t−1}| of the error e = pred − target of a ``(T, H, W)`` movie: how much the *error*
    changes from frame to frame (0 for a steady error, whatever its size)."""
    if pred.shape != target.shape:
        raise ValueError(f"error_flicker: pred and target differ in shape: {pred.shape} and {target.shape}")
    return flicker(np.asarray(pred, np.float64) - np.asarray(target, np.float64))
