"""The picking rule on synthetic metric curves (no network involved)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vs_colorize.training.inflection import COLOUR_PREFERENCE, DEFAULT_SIGNALS, Signal, pick_index


def _curves(n: int, turn: int | None, *, noise: float = 0.0, seed: int = 0) -> list[dict[str, float]]:
    """Metrics of ``n`` checkpoints that improve until ``turn`` and then degrade like an over-trained GAN."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        healthy = min(k, turn) if turn is not None else k
        over = max(0, k - turn) if turn is not None else 0
        jitter = 1.0 + noise * rng.standard_normal()
        out.append(
            {
                "chroma_error": (12.0 - 3.0 * (1 - math.exp(-healthy / 3)) + 0.8 * over) * jitter,
                "colourfulness_gap": -20.0 + 1.5 * healthy + 6.0 * over,
                "skin_sat_drift": -8.0 + 0.5 * healthy + 4.0 * over,
                "skin_hue_drift": 12.0 - 0.3 * healthy + 3.0 * over,
                "neutral_cast": 3.0 - 0.1 * healthy + 2.5 * over,
                "noise_instability": 1.2 - 0.02 * healthy + 0.6 * over,
            }
        )
    return out


def test_monotone_improvement_picks_the_last() -> None:
    pick = pick_index(_curves(10, None))
    assert pick.turn_index is None
    assert pick.index == 9


def test_improve_then_degrade_picks_just_before_the_turn() -> None:
    pick = pick_index(_curves(14, 7))
    assert pick.turn_index is not None and 7 <= pick.turn_index <= 9
    assert pick.index in (6, 7)
    assert pick.turn_signals  # names what degraded
    assert set(pick.turn_signals) <= {s.name for s in DEFAULT_SIGNALS}


@pytest.mark.parametrize("seed", range(5))
def test_single_step_noise_does_not_fool_it(seed: int) -> None:
    metrics = _curves(14, 8, noise=0.01, seed=seed)
    metrics[3]["chroma_error"] *= 1.6  # one wild checkpoint early on
    metrics[4]["neutral_cast"] += 6.0  # and one on another signal
    pick = pick_index(metrics)
    assert pick.turn_index is not None and pick.turn_index >= 8
    assert 6 <= pick.index <= 8


def test_a_spike_in_the_last_checkpoint_is_not_a_turn() -> None:
    metrics = _curves(8, None)
    metrics[-1]["neutral_cast"] += 10.0
    pick = pick_index(metrics)
    assert pick.turn_index is None
    assert pick.index >= 6


def test_degradation_only_at_the_end_still_counts() -> None:
    pick = pick_index(_curves(10, 7))  # the last two checkpoints are over-trained
    assert pick.turn_index is not None
    assert pick.index == 7


def test_ties_go_to_the_later_checkpoint() -> None:
    flat = [{"chroma_error": 5.0, "neutral_cast": 1.0}] * 4
    pick = pick_index(flat)
    assert pick.turn_index is None
    assert pick.index == 3
    assert len(set(pick.scores)) == 1


def test_margin_prefers_the_latest_near_best_checkpoint() -> None:
    errors = [9.0, 8.0, 7.00, 7.10, 7.05, 7.12, 7.6, 8.5, 9.5]  # plateau at 2..5, then it turns
    metrics = [{"chroma_error": e} for e in errors]
    tight = pick_index(metrics, margin=0.0)
    loose = pick_index(metrics, margin=0.03)
    assert tight.turn_index == loose.turn_index == 7
    assert tight.index == 3  # strictly the lowest smoothed score (7.05)
    assert loose.index == 5  # the last one of the plateau


def test_one_checkpoint() -> None:
    pick = pick_index(_curves(1, None))
    assert pick.index == 0
    assert pick.turn_index is None


def test_nan_signals_are_left_out() -> None:
    metrics = _curves(10, 5)
    for m in metrics:
        m["skin_sat_drift"] = math.nan
        m["skin_hue_drift"] = math.nan
    pick = pick_index(metrics)
    assert "skin_sat_drift" not in pick.smoothed
    assert pick.turn_index is not None and pick.index in (4, 5)


def test_custom_signals_and_tolerance() -> None:
    metrics = [{"err": v} for v in (5.0, 4.0, 3.0, 3.2, 3.4, 3.6, 3.8)]
    strict = pick_index(metrics, signals=[Signal(name="err", weight=1.0, rel_tol=0.05, abs_tol=0.1)])
    lax = pick_index(metrics, signals=[Signal(name="err", weight=1.0, rel_tol=0.5, abs_tol=0.1)])
    # smoothed: 4, 4, 3.2, 3.2, 3.4, 3.6, 3.6 -- a one-checkpoint dip (3.0) is not trusted over its neighbour
    assert strict.turn_index == 4 and strict.index == 3
    assert lax.turn_index is None and lax.index == 3


def test_errors_name_the_function_and_argument() -> None:
    with pytest.raises(ValueError, match="pick_index: metrics is empty"):
        pick_index([])
    with pytest.raises(ValueError, match="pick_index: patience must be >= 1"):
        pick_index(_curves(3, None), patience=0)
    with pytest.raises(ValueError, match=r"pick_index: margin must be in \[0, 1\)"):
        pick_index(_curves(3, None), margin=1.0)


def test_a_model_getting_duller_is_not_a_turn() -> None:
    # A pixel-loss model loses colour as it learns (colourfulness and skin saturation fall below the truth's)
    # while its error falls: not a glitch.
    metrics = [
        {"chroma_error": 20.0 - k, "colourfulness_gap": 5.0 - 4.0 * k, "skin_sat_drift": 1.0 - 3.0 * k}
        for k in range(8)
    ]
    pick = pick_index(metrics)
    assert pick.turn_index is None
    assert pick.index == 7


def test_the_pick_is_strictly_before_the_turn_even_when_the_turn_scores_best() -> None:
    """Signal ``a`` degrades at checkpoint 4 (the turn) while the heavier ``b`` keeps improving, so checkpoint 4
    has the lowest combined score; the rule still picks from checkpoints 0..3 only."""
    signals = (
        Signal(name="a", weight=0.01, rel_tol=0.1, abs_tol=0.01),
        Signal(name="b", weight=1.0, rel_tol=0.1, abs_tol=0.01),
    )
    a = [1.0, 1.0, 1.0, 1.0, 2.0, 2.0]
    b = [10.0, 9.0, 8.0, 7.0, 6.0, 5.0]
    pick = pick_index([{"a": x, "b": y} for x, y in zip(a, b, strict=True)], signals=signals, patience=1)
    assert pick.turn_index == 4 and pick.turn_signals == ("a",)
    assert min(range(6), key=pick.scores.__getitem__) == 4  # the turn itself scores best ...
    assert pick.index == 3  # ... and is still not picked


def test_colour_shortfall_prefers_bolder_checkpoints_but_never_turns() -> None:
    # Equal error everywhere; the output gets duller (shortfall 2 → 16) then bolder again. Duller is no glitch
    # (no turn), but among equally good checkpoints the bolder ones score lower.
    shortfall = [2.0, 2.0, 2.0, 8.0, 16.0, 16.0, 16.0, 16.0]
    metrics = [{"chroma_error": 10.0, "colourfulness_shortfall": s} for s in shortfall]
    signals = (*DEFAULT_SIGNALS, COLOUR_PREFERENCE)
    pick = pick_index(metrics, signals=signals)
    assert pick.turn_index is None
    assert pick.index == 2
    bolder = [{**m, "colourfulness_shortfall": 20.0 - s} for m, s in zip(metrics, shortfall, strict=True)]
    assert pick_index(bolder, signals=signals).index == 7
    assert pick_index(bolder).index == 7  # not a default: equal scores, the latest wins
    assert pick_index(metrics).index == 7


def _one(name: str, rel_tol: float = 0.1, abs_tol: float = 0.1, weight: float = 1.0) -> Signal:
    return Signal(name=name, weight=weight, rel_tol=rel_tol, abs_tol=abs_tol)


def test_ends_of_the_running_median_use_the_nearest_full_window() -> None:
    # three checkpoints form one window: the spike in the middle is removed everywhere
    three = pick_index([{"e": v} for v in (1.0, 10.0, 1.0)], signals=[_one("e")])
    assert three.smoothed["e"] == [1.0, 1.0, 1.0]
    # the first value's window is checkpoints 0..2 (median 1), not 1..3 (median 9)
    four = pick_index([{"e": v} for v in (1.0, 1.0, 9.0, 9.0)], signals=[_one("e")])
    assert four.smoothed["e"] == [1.0, 1.0, 9.0, 9.0]


def test_the_default_patience_is_two_consecutive_degraded_checkpoints() -> None:
    # smoothed: 5, 5, 5, 7, 7, 7 -- degraded from checkpoint 3 on, for three checkpoints
    errs = [5.0, 5.0, 5.0, 7.0, 7.0, 7.0]
    pick = pick_index([{"e": v} for v in errs], signals=[_one("e")])
    assert pick.turn_index == 3
    # smoothed 5, 5, 5, 5, 7, 7, 5, 5, 5: degraded at 4 and 5 only, which turns at patience 2 but not at 3
    errs = [5.0, 5.0, 5.0, 5.0, 7.0, 7.0, 5.0, 5.0, 5.0]
    assert pick_index([{"e": v} for v in errs], signals=[_one("e")]).turn_index == 4
    assert pick_index([{"e": v} for v in errs], signals=[_one("e")], patience=3).turn_index is None


def test_patience_needs_every_checkpoint_of_the_window_degraded() -> None:
    # two signals degraded one after the other: a at 3, 4 and b at 5, 6, never one signal three in a row
    a = [5.0, 5.0, 5.0, 8.0, 8.0, 5.0, 5.0, 5.0, 5.0]
    b = [5.0, 5.0, 5.0, 5.0, 5.0, 8.0, 8.0, 5.0, 5.0]
    sigs = [_one("a"), _one("b")]
    one_each = pick_index([{"a": x, "b": y} for x, y in zip(a, b, strict=True)], signals=sigs, patience=3)
    assert one_each.turn_index is None
    assert pick_index([{"a": x, "b": y} for x, y in zip(a, b, strict=True)], signals=sigs).turn_index == 3
    # one signal, smoothed 5, 5, 5, 5, 6, 5, 6, 6: degraded at 4 and 6 but not 5, so patience 3 waits for 6..7
    zigzag = [{"e": v} for v in (5.0, 5.0, 5.0, 6.0, 5.0, 6.0, 5.0, 6.0)]
    assert pick_index(zigzag, signals=[_one("e", rel_tol=0.0, abs_tol=0.5)], patience=3).turn_index == 6


def test_a_rise_exactly_at_the_tolerance_is_not_degraded() -> None:
    # best 4.0, tolerance max(0.25 * 4, 0.1) = 1.0: 5.0 is allowed, 5.5 is not
    at = pick_index([{"e": v} for v in (4.0, 4.0, 4.0, 5.0, 5.0, 5.0)], signals=[_one("e", rel_tol=0.25)])
    over = pick_index([{"e": v} for v in (4.0, 4.0, 4.0, 5.5, 5.5, 5.5)], signals=[_one("e", rel_tol=0.25)])
    assert at.turn_index is None and over.turn_index == 3


def test_the_score_sums_every_signal_each_over_its_median() -> None:
    # "small" is on a scale 100x below "big"; divided by its median it weighs the same. Checkpoints 2-4 are best
    # on the sum (big improves a little, small a lot); big alone or an unnormalised sum would pick checkpoint 7.
    big = [100.0, 100.0, 99.0, 99.0, 99.0, 98.5, 98.5, 98.5]
    small = [1.0, 1.0, 0.5, 0.5, 0.5, 0.9, 0.9, 0.9]
    sigs = [_one("big", rel_tol=0.5, abs_tol=0.01), _one("small", rel_tol=1.0, abs_tol=0.01)]
    metrics = [{"big": x, "small": y} for x, y in zip(big, small, strict=True)]
    pick = pick_index(metrics, signals=sigs, margin=0.0)
    assert pick.turn_index is None
    assert pick.index == 4  # the last of the three with the lowest sum, 99/99 + 0.5/0.9
    ref_big, ref_small = 99.0, 0.9  # the medians of the smoothed curves
    assert pick.scores[4] == pytest.approx(99.0 / ref_big + 0.5 / ref_small)


def test_the_tie_margin_is_relative_to_the_lowest_score() -> None:
    # the score is e / median(e) with median 15.3, so the lowest is 0.654, not 1: a 3 % tie reaches 10.2
    # (2 % above 10) but not 10.6 (6 % above)
    errs = [20.0] * 9 + [10.0] * 3 + [10.2] * 3 + [10.6] * 3
    pick = pick_index([{"e": v} for v in errs], signals=[_one("e", rel_tol=1.5)])
    assert pick.turn_index is None
    assert pick.index == 14
