"""The AdaptiveGANSwitcher logic on synthetic loss sequences."""

from __future__ import annotations

import pytest

from vs_colorize.training.phases.switcher import AdaptiveSwitcher


def _replay(sw: AdaptiveSwitcher, critic_losses: list[float], gen_loss: float = 5.0) -> str:
    """Feed losses step by step: critic steps consume ``critic_losses``; returns the trained net per step."""
    trained = []
    it = iter(critic_losses)
    for _ in range(len(critic_losses) * 2):
        if sw.gen_mode:
            trained.append("G")
            sw.update(gen_loss)
        else:
            loss = next(it, None)
            if loss is None:
                break
            trained.append("C")
            sw.update(loss)
    return "".join(trained)


def test_critic_trains_until_its_loss_drops_below_the_threshold() -> None:
    sw = AdaptiveSwitcher(critic_thresh=0.65)
    assert not sw.gen_mode  # fastai starts with the critic
    # the critic needs 3 steps to get below 0.65, then one G step; then 1 step; then 2 steps
    assert _replay(sw, [0.9, 0.7, 0.6, 0.5, 0.66, 0.64]) == "CCCGCGCCG"


def test_threshold_is_strict_and_generator_always_hands_back() -> None:
    sw = AdaptiveSwitcher(critic_thresh=0.65)
    assert sw.update(0.65) is False and not sw.gen_mode  # equal is not below
    assert sw.update(0.6499) is True and sw.gen_mode
    assert sw.update(100.0) is True and not sw.gen_mode  # gen_thresh None: one G step, back to the critic


def test_generator_threshold_and_no_critic_threshold() -> None:
    sw = AdaptiveSwitcher(critic_thresh=None, gen_thresh=2.0)
    assert sw.update(10.0) and sw.gen_mode  # no critic threshold: switch after every critic step
    assert not sw.update(3.0) and sw.gen_mode  # the generator keeps training while its loss >= 2
    assert sw.update(1.5) and not sw.gen_mode


def test_state_round_trips_through_a_resume_and_refuses_unknown_keys() -> None:
    """A resumed GAN phase must continue in the mode and with the thresholds it stopped with."""
    sw = AdaptiveSwitcher(critic_thresh=0.4, gen_thresh=1.5)
    sw.update(0.1)  # critic loss under 0.4: now in generator mode
    state = sw.state_dict()
    assert state == {"critic_thresh": 0.4, "gen_thresh": 1.5, "gen_mode": True}
    resumed = AdaptiveSwitcher()
    resumed.load_state_dict(state)
    assert resumed == sw
    assert resumed.update(2.0) is False and resumed.update(1.0) is True and not resumed.gen_mode
    with pytest.raises(ValueError, match=r"AdaptiveSwitcher.load_state_dict: unknown keys \['patience'\]"):
        resumed.load_state_dict({"gen_mode": True, "patience": 3})
    assert not resumed.gen_mode  # nothing of a refused state is applied
