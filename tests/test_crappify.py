"""Crappify: Pillow-exact luma, grey output, fastai lighting bounds, noise, determinism under a seed."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vs_colorize.training.config import CrappifyConfig
from vs_colorize.training.crappify import crappify, lighting, luma_u8, noisify


def _photo(data_dir: Path, size: int = 64) -> np.ndarray:
    path = sorted((data_dir / "train256").glob("*.jpg"))[0]
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((size, size)))


def test_luma_is_pillow_convert_L(data_dir: Path) -> None:
    rgb = _photo(data_dir, 96)
    assert np.array_equal(luma_u8(rgb), np.asarray(Image.fromarray(rgb).convert("L")))
    rand = np.random.default_rng(0).integers(0, 256, size=(33, 47, 3), dtype=np.uint8)
    assert np.array_equal(luma_u8(rand), np.asarray(Image.fromarray(rand).convert("L")))


def test_luma_rejects_wrong_input() -> None:
    with pytest.raises(ValueError, match="luma_u8: rgb"):
        luma_u8(np.zeros((4, 4), np.uint8))


def test_output_is_grey_in_range_and_seeded(data_dir: Path) -> None:
    rgb = _photo(data_dir)
    cfg = CrappifyConfig(noise="noisify", noise_p=1.0, jpeg_p=1.0, blur_p=1.0)
    a, rec_a = crappify(rgb, cfg, np.random.default_rng(7))
    b, rec_b = crappify(rgb, cfg, np.random.default_rng(7))
    c, _ = crappify(rgb, cfg, np.random.default_rng(8))
    assert a.shape == (64, 64, 3) and a.dtype == np.float32
    assert np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2])
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert np.array_equal(a, b) and rec_a == rec_b
    assert not np.array_equal(a, c)
    assert rec_a.jpeg_quality is not None and 30 <= rec_a.jpeg_quality <= 90
    assert rec_a.blur_sigma is not None and 0.3 <= rec_a.blur_sigma <= 1.5
    assert rec_a.noise is not None


def test_no_lighting_no_noise_is_exact_luma(data_dir: Path) -> None:
    rgb = _photo(data_dir)
    out, rec = crappify(rgb, CrappifyConfig(max_lighting=0.0), np.random.default_rng(0))
    assert np.array_equal(out[..., 0], luma_u8(rgb).astype(np.float32) / 255.0)
    assert rec.brightness is None and rec.contrast is None


def test_lighting_parameters_and_effect_within_deoldify_bounds() -> None:
    rng = np.random.default_rng(123)
    x = np.full((8, 8), 0.5, np.float32)
    lo = 1 / (1 + math.exp(-2 * math.log(0.25 / 0.75)))  # darkest: change 0.25, scale 2
    changes, scales, applied = [], [], 0
    for _ in range(600):
        out, change, scale = lighting(x, rng, max_lighting=0.5, p=0.75)
        assert lo - 1e-6 <= float(out.mean()) <= 1 - lo + 1e-6
        if change is not None:
            changes.append(change)
        if scale is not None:
            scales.append(scale)
        applied += (change is not None) + (scale is not None)
    assert min(changes) >= 0.25 and max(changes) <= 0.75
    assert min(scales) >= 0.5 - 1e-9 and max(scales) <= 2.0 + 1e-9
    # each of brightness and contrast is applied with probability 0.75
    assert 0.70 < applied / 1200 < 0.80
    # both ends of each range are reached (the draws really span DeOldify's strength)
    assert min(changes) < 0.3 and max(changes) > 0.7 and min(scales) < 0.6 and max(scales) > 1.7


def test_brightness_moves_the_mean_the_right_way() -> None:
    x = np.linspace(0.05, 0.95, 64, dtype=np.float32).reshape(8, 8)
    for seed in range(50):
        out, change, scale = lighting(x, np.random.default_rng(seed), 0.5, 1.0)
        assert change is not None and scale is not None
        if change > 0.5 and scale >= 1.0:
            assert out.mean() > 0.5
        if change < 0.5 and scale >= 1.0:
            assert out.mean() < 0.5


def test_noisify_hits_a_fraction_of_pixels_by_at_most_the_range() -> None:
    x = np.full((100, 100), 0.5, np.float32)
    frac = noisify(x, np.random.default_rng(3), (0.001, 0.4), 30)
    changed = np.abs(x - 0.5) > 0
    assert 0.001 <= frac <= 0.4
    assert 0 < changed.mean() <= frac
    # collisions may stack two offsets on one pixel
    assert np.abs(x - 0.5).max() <= 2 * 30 / 255 + 1e-6
    with pytest.raises(ValueError, match="noisify: noise_range"):
        noisify(x, np.random.default_rng(0), (0.1, 0.2), 300)


def test_unknown_noise_kind_is_rejected(data_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"crappify: cfg\.noise"):
        crappify(_photo(data_dir), CrappifyConfig(noise="salt"), np.random.default_rng(0))
