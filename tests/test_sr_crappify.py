"""Crappifier: noise statistics match their documented levels, determinism, downsampling, config checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vs_colorize.training.sr.crappify import (
    SRCrappifyConfig,
    add_noise,
    crappify,
    crappify_stack,
    downsample_area,
    gaussian_blur,
    lr_noise_std,
)

QUIET = SRCrappifyConfig(gaussian_sigma=0, poisson_peak=0, localvar_scale=0, salt_pepper=0, spread=0)


@pytest.mark.parametrize("intensity", [0.2, 0.5])
@pytest.mark.parametrize("scale", [2, 4])
def test_lr_noise_std_matches_documented_formula(intensity: float, scale: int) -> None:
    cfg = SRCrappifyConfig(scale=scale, salt_pepper=0, spread=0)
    lr = crappify(np.full((512, 512), intensity), cfg, np.random.default_rng(0))
    assert lr.shape == (512 // scale, 512 // scale) and lr.dtype == np.float32
    assert lr.mean() == pytest.approx(intensity, abs=0.005)
    assert lr.std() == pytest.approx(lr_noise_std(intensity, cfg), rel=0.06)


def test_each_noise_source_alone() -> None:
    rng = np.random.default_rng(1)
    flat = np.full((400, 400), 0.25)
    gauss = add_noise(flat, dataclasses.replace(QUIET, gaussian_sigma=0.1), rng, 1.0)
    assert gauss.std() == pytest.approx(0.1, rel=0.03)
    shot = add_noise(flat, dataclasses.replace(QUIET, poisson_peak=100), rng, 1.0)
    assert shot.var() == pytest.approx(0.25 / 100, rel=0.05)  # Poisson: variance = mean / peak
    assert np.allclose(shot * 100, np.round(shot * 100))  # whole photon counts
    local = add_noise(flat, dataclasses.replace(QUIET, localvar_scale=0.04), rng, 1.0)
    assert local.var() == pytest.approx(0.25 * 0.04, rel=0.05)
    sp = add_noise(flat, dataclasses.replace(QUIET, salt_pepper=0.1), rng, 1.0)
    assert np.mean(sp == 0) == pytest.approx(0.05, abs=0.005)
    assert np.mean(sp == 1) == pytest.approx(0.05, abs=0.005)


def test_localvar_noise_follows_the_signal() -> None:
    img = np.zeros((200, 400))
    img[:, 200:] = 0.8
    noisy = add_noise(img, dataclasses.replace(QUIET, localvar_scale=0.05), np.random.default_rng(2), 1.0)
    assert noisy[:, :150].std() < 1e-3  # dark side: almost no noise
    assert noisy[:, 250:].std() == pytest.approx(np.sqrt(0.8 * 0.05), rel=0.05)


def test_spread_gain_is_shared_by_a_stack_and_within_range() -> None:
    cfg = dataclasses.replace(QUIET, spread=0.3)
    means = []
    for seed in range(40):
        stack = crappify_stack(np.full((3, 32, 32), 0.5), cfg, np.random.default_rng(seed))
        assert np.ptp(stack) < 1e-6  # noise-free config: one gain for the whole stack
        means.append(stack.mean() / 0.5)
    assert min(means) >= 0.7 and max(means) <= 1.3
    assert max(means) - min(means) > 0.3  # the gain really varies between acquisitions


def test_deterministic_for_a_seed_and_different_across_seeds() -> None:
    img = np.random.default_rng(3).random((64, 64))
    a = crappify(img, SRCrappifyConfig(), np.random.default_rng(7))
    b = crappify(img, SRCrappifyConfig(), np.random.default_rng(7))
    c = crappify(img, SRCrappifyConfig(), np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 0.01


def test_quiet_config_is_plain_binning() -> None:
    img = np.random.default_rng(4).random((10, 14))
    lr = crappify(img, dataclasses.replace(QUIET, scale=2), np.random.default_rng(0))
    np.testing.assert_allclose(lr, img.reshape(5, 2, 7, 2).mean(axis=(1, 3)), atol=1e-6)
    assert downsample_area(np.ones((9, 9)), 4).shape == (2, 2)


def test_gaussian_blur_preserves_mean_and_smooths() -> None:
    img = np.random.default_rng(5).random((64, 64))
    out = gaussian_blur(img, 2.0)
    assert out.mean() == pytest.approx(img.mean(), abs=0.01)
    assert out.std() < img.std() / 3


@pytest.mark.parametrize(
    ("field", "value"),
    [("scale", 3), ("gaussian_sigma", -0.1), ("poisson_peak", 0.5), ("salt_pepper", 0.6), ("spread", 1.0)],
)
def test_config_errors_name_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"SRCrappifyConfig: {field}"):
        SRCrappifyConfig(**{field: value})


def test_crappify_rejects_non_2d() -> None:
    with pytest.raises(ValueError, match="crappify: image"):
        crappify(np.zeros((2, 8, 8)), SRCrappifyConfig(), np.random.default_rng(0))
