"""vs_colorize.tiling: tile plans, blend weights, and tiled inference equal to untiled inference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vs_colorize.tiling import padded_size, plan_axis, ramp, run_tiled, tile_plan


def box3_nearest(scale: int):
    """A 'model' with receptive radius 1: 3×3 mean with zero padding, then nearest upscaling, per channel."""

    def infer(x: np.ndarray) -> np.ndarray:
        p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        h, w = x.shape[2:]
        box = sum(p[:, :, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) / 9.0
        return box.repeat(scale, axis=2).repeat(scale, axis=3).astype(np.float32)

    return infer


@pytest.mark.parametrize(("size", "tile", "overlap"), [(100, 32, 8), (64, 32, 8), (33, 32, 4), (20, 32, 8)])
def test_plan_axis_covers_with_required_overlap(size: int, tile: int, overlap: int) -> None:
    spans = plan_axis(size, tile, overlap)
    covered = np.zeros(size, dtype=int)
    for s in spans:
        covered[s.start : s.start + s.length] += 1
        assert s.length <= tile
    assert covered.min() >= 1
    assert spans[0].start == 0 and spans[-1].start + spans[-1].length == size
    for a, b in itertools.pairwise(spans):
        shared = a.start + a.length - b.start
        assert shared >= overlap
        assert a.overlap_after == shared == b.overlap_before


def test_ramp_cross_fade_sums_to_one_and_discards_margins() -> None:
    ov, scale = 16, 2
    a = ramp(32, 0, ov, scale)
    b = ramp(32, ov, 0, scale)
    shared = a[-ov * scale :] + b[: ov * scale]
    np.testing.assert_allclose(shared, 1.0)
    margin = (ov // 4) * scale
    assert np.all(b[:margin] == 0) and np.all(a[-margin:] == 0)
    assert np.all(a[: 32 * scale - ov * scale] == 1)


def test_padded_size() -> None:
    assert padded_size(33, multiple=8, min_size=1) == 40
    assert padded_size(5, multiple=4, min_size=16) == 16
    assert padded_size(32, multiple=8, min_size=1) == 32


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_tiled_equals_untiled_for_finite_receptive_field(scale: int) -> None:
    rng = np.random.default_rng(1)
    x = rng.random((1, 3, 70, 90), dtype=np.float32)
    infer = box3_nearest(scale)
    whole = infer(x)
    tiled = run_tiled(infer, x, scale=scale, tile=(32, 40), overlap=8)
    assert tiled.shape == whole.shape == (1, 3, 70 * scale, 90 * scale)
    np.testing.assert_allclose(tiled, whole, atol=1e-6)


def test_too_small_overlap_shows_seams_that_blending_bounds() -> None:
    rng = np.random.default_rng(2)
    x = rng.random((1, 1, 64, 64), dtype=np.float32)
    infer = box3_nearest(2)
    err = np.abs(run_tiled(infer, x, scale=2, tile=(32, 32), overlap=2) - infer(x)).max()
    assert 0 < err < 0.5  # overlap 2 has no discarded margin: border pixels leak, but blended


def test_multiple_and_min_size_padding_are_cropped() -> None:
    seen: list[tuple[int, ...]] = []

    def infer(x: np.ndarray) -> np.ndarray:
        seen.append(x.shape)
        return x[:, :1].repeat(4, axis=2).repeat(4, axis=3)

    x = np.random.default_rng(3).random((2, 3, 13, 21), dtype=np.float32)
    y = run_tiled(infer, x, scale=4, multiple=8, min_size=16)
    assert seen == [(2, 3, 16, 24)]
    np.testing.assert_array_equal(y, x[:, :1].repeat(4, axis=2).repeat(4, axis=3))


def test_fixed_tiles_are_padded_to_the_static_shape() -> None:
    seen: set[tuple[int, ...]] = set()

    def infer(x: np.ndarray) -> np.ndarray:
        seen.add(x.shape[2:])
        return x.repeat(2, axis=2).repeat(2, axis=3)

    x = np.random.default_rng(4).random((1, 1, 50, 30), dtype=np.float32)
    y = run_tiled(infer, x, scale=2, tile=(32, 32), overlap=8, fixed=True)
    assert seen == {(32, 32)}
    np.testing.assert_allclose(y, x.repeat(2, axis=2).repeat(2, axis=3), atol=1e-6)


def test_blend_weights_are_planned_once_and_sum_to_one() -> None:
    tile_plan.cache_clear()
    x = np.random.default_rng(5).random((1, 1, 70, 90), dtype=np.float32)
    first = run_tiled(box3_nearest(2), x, scale=2, tile=(32, 40), overlap=8)
    second = run_tiled(box3_nearest(2), x, scale=2, tile=(32, 40), overlap=8)
    assert first.dtype == np.float32
    np.testing.assert_array_equal(first, second)
    assert (tile_plan.cache_info().misses, tile_plan.cache_info().hits) == (1, 1)
    total = np.zeros((140, 180))
    for t in tile_plan(70, 90, (32, 40), 8, 2, 1, 1, False):
        assert t.weight.dtype == np.float32 and not t.weight.flags.writeable
        total[t.out_rows, t.out_cols] += t.weight
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_errors_name_function_and_argument() -> None:
    x = np.zeros((1, 1, 40, 40), dtype=np.float32)
    with pytest.raises(ValueError, match="run_tiled: tile"):
        run_tiled(box3_nearest(1), x, scale=1, tile=(30, 30), multiple=8)
    with pytest.raises(ValueError, match="plan_axis: overlap"):
        plan_axis(100, 32, 32)
    with pytest.raises(ValueError, match="run_tiled: infer returned shape"):
        run_tiled(lambda a: a, x, scale=2)
