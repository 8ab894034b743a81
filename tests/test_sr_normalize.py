"""Percentile normalisation for SR (CARE's convention): the shared maths, the training samples, the contract."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vs_colorize.core.contract import ContractError, ModelInfo
from vs_colorize.core.percentile import check_percentiles, denormalize, normalize, percentile_range
from vs_colorize.training.sr.crappify import SRCrappifyConfig, downsample_area
from vs_colorize.training.sr.data import TripletDataset
from vs_colorize.training.sr.train import SRTrainConfig


def test_normalize_and_denormalize_are_inverse_and_use_the_percentiles() -> None:
    x = np.random.default_rng(0).random((3, 20, 30)).astype(np.float32) * 0.2 + 0.1
    lo, hi = percentile_range(x, 2.0, 99.8)
    assert (lo, hi) == pytest.approx(tuple(np.percentile(x, (2.0, 99.8))))
    n = normalize(x, lo, hi)
    assert float(np.mean(n < 0)) == pytest.approx(0.02, abs=0.002)
    assert float(np.mean(n > 1)) == pytest.approx(0.002, abs=0.001)
    np.testing.assert_allclose(denormalize(n, lo, hi), x, atol=1e-6)
    assert np.all(np.isfinite(normalize(np.full((4, 4), 0.5), 0.5, 0.5)))  # a flat image stays finite


def test_bad_percentiles_name_the_function() -> None:
    with pytest.raises(ValueError, match=r"SRTrainConfig: normalize: .*pmin=50"):
        SRTrainConfig(data=("x",), out="o", normalize=(50.0, 10.0))
    with pytest.raises(ValueError, match="f: percentiles"):
        check_percentiles(-1, 99, "f")


def _flat_noise_free(spread: float) -> SRCrappifyConfig:
    return SRCrappifyConfig(
        scale=4, salt_pepper=0.0, poisson_peak=0.0, localvar_scale=0.0, gaussian_sigma=0.0, spread=spread
    )


def test_training_samples_are_normalised_with_the_whole_window_range_and_gain_free() -> None:
    # without noise, LR = gain · area-downsampled HR: after normalisation it must equal the downsampled
    # normalised target exactly, whatever the gain (the network then never sees the illumination)
    rng = np.random.default_rng(1)
    seq = (rng.random((4, 48, 64)) * 0.3).astype(np.float32)
    cfg = _flat_noise_free(spread=0.3)
    ds = TripletDataset([seq], crop=16, cfg=cfg, length=6, normalize=(2.0, 99.8))
    for i in range(6):
        lr1, lr2, hr, hr2 = (t.numpy() for t in ds[i])
        np.testing.assert_array_equal(hr, hr2)  # noise pairs: one target
        np.testing.assert_allclose(lr1[1], downsample_area(hr[0], 4), atol=1e-5)
        np.testing.assert_allclose(lr1, lr2, atol=1e-5)  # two gains, one normalised signal
    # the range is the whole LR window's (frames t−1..t+1 at gain 1), not the crop's
    lo, hi = ds.ranges[0, 1, False]
    whole = np.stack([downsample_area(f, 4) for f in seq[0:3]])
    assert (lo, hi) == pytest.approx(tuple(np.percentile(whole, (2.0, 99.8))), abs=1e-6)


def test_raw_samples_are_unchanged_without_normalisation() -> None:
    seq = (np.random.default_rng(2).random((3, 32, 32)) * 0.3).astype(np.float32)
    ds = TripletDataset([seq], crop=16, cfg=_flat_noise_free(spread=0.0), length=1)
    lr1, _, hr, _ = (t.numpy() for t in ds[0])
    np.testing.assert_allclose(lr1[1], downsample_area(hr[0], 4), atol=1e-6)
    assert float(hr.max()) <= 0.3


def _info(**kw: object) -> ModelInfo:
    base: dict[str, object] = dict(
        kind="superres",
        arch="a",
        dynamic_range=(16, 64),
        multiple=4,
        in_channels=3,
        out_channels=1,
        scale=4,
        window=3,
    )
    return ModelInfo(**(base | kw))  # type: ignore[arg-type]


def test_contract_carries_percentiles_and_old_artifacts_have_none() -> None:
    info = _info(norm_pmin=2.0, norm_pmax=99.8)
    back = ModelInfo.from_props(info.to_props())
    assert back == info and back.percentiles == (2.0, 99.8)
    assert "percentiles 2/99.8" in back.describe()
    old = {k: v for k, v in info.to_props().items() if "norm_" not in k}
    assert ModelInfo.from_props(old).percentiles is None
    with pytest.raises(ContractError, match="together"):
        _info(norm_pmin=2.0)
    with pytest.raises(ContractError, match="0 <= pmin < pmax"):
        _info(norm_pmin=99.0, norm_pmax=2.0)
    with pytest.raises(ContractError, match="superres"):
        dataclasses.replace(info, kind="colorize", in_channels=3, out_channels=3, scale=1, window=1)


def test_clean_fraction_makes_noise_free_tuples() -> None:
    seq = (np.random.default_rng(3).random((3, 32, 32)) * 0.3).astype(np.float32)
    noisy = SRCrappifyConfig(scale=4, spread=0.0)
    ds = TripletDataset([seq], crop=16, cfg=dataclasses.replace(noisy, clean_fraction=1.0), length=2)
    lr1, lr2, hr, _ = (t.numpy() for t in ds[0])
    np.testing.assert_allclose(lr1[1], downsample_area(hr[0], 4), atol=1e-6)
    np.testing.assert_allclose(lr1, lr2, atol=1e-6)
    lr1, _, hr, _ = (t.numpy() for t in TripletDataset([seq], crop=16, cfg=noisy, length=1)[0])
    assert float(np.abs(lr1[1] - downsample_area(hr[0], 4)).mean()) > 0.01  # the default keeps the noise


def test_error_flicker_measures_changes_of_the_error_not_its_size() -> None:
    from vs_colorize.training.sr.metrics import error_flicker

    truth = np.random.default_rng(4).random((4, 8, 8))
    assert error_flicker(truth + 0.1, truth) == pytest.approx(0.0)  # a steady error does not flicker
    alternating = truth + 0.05 * (np.arange(4) % 2)[:, None, None]
    assert error_flicker(alternating, truth) == pytest.approx(0.05)
