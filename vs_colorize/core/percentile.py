"""Per-image percentile normalisation (CARE/CSBDeep's convention), shared by SR training and the runtime.

An image (for a temporal model: the whole window of frames t−1, t, t+1 together) is mapped by
``(x − lo) / (hi − lo)`` where ``lo``/``hi`` are its ``pmin``/``pmax`` percentiles (defaults 2 and 99.8, as
in CSBDeep's ``normalize``). The network works in those units; its output is mapped back with the *input's*
``lo``/``hi`` (:func:`denormalize`), so the result lands in the input's intensity range whatever the sample's
brightness. Values are not clipped: a few percent of the pixels fall outside [0, 1] by construction.
"""

from __future__ import annotations

import numpy as np

#: CSBDeep's default percentiles.
DEFAULT_PMIN, DEFAULT_PMAX = 2.0, 99.8
#: Guards a flat image (hi == lo) against division by zero: the bioimage.io spec's ``scale_range`` default
#: (CSBDeep uses 1e-20), so a BioImage Model Zoo package computes exactly what the runtime does.
EPS = 1e-6


def check_percentiles(pmin: float, pmax: float, func: str) -> tuple[float, float]:
    """``(pmin, pmax)`` as floats when ``0 <= pmin < pmax <= 100``; else ValueError naming ``func``."""
    lo, hi = float(pmin), float(pmax)
    if not (0.0 <= lo < hi <= 100.0):
        raise ValueError(
            f"{func}: percentiles must satisfy 0 <= pmin < pmax <= 100, got pmin={pmin}, pmax={pmax}"
        )
    return lo, hi


def percentile_range(image: np.ndarray, pmin: float, pmax: float) -> tuple[float, float]:
    """The ``pmin``/``pmax`` percentiles of all values of ``image`` (any shape), as floats."""
    lo, hi = np.percentile(np.asarray(image, dtype=np.float32), (pmin, pmax))
    return float(lo), float(hi)


def normalize(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``(image − lo) / (hi − lo)`` as float32 (not clipped)."""
    return ((np.asarray(image, dtype=np.float32) - np.float32(lo)) / np.float32(hi - lo + EPS)).astype(
        np.float32, copy=False
    )


def denormalize(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The inverse of :func:`normalize`: ``image · (hi − lo) + lo`` as float32."""
    return (np.asarray(image, dtype=np.float32) * np.float32(hi - lo + EPS) + np.float32(lo)).astype(
        np.float32, copy=False
    )
