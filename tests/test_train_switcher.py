"""The AdaptiveGANSwitcher logic on synthetic loss sequences."""

from __future__ import annotations

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
