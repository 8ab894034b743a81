"""Automatic inflection-point picker: the GAN checkpoint "just before glitches start".

DeOldify's NoGAN GAN phase saves the generator every N iterations and the user picks, by eye, the last checkpoint
before over-training shows (orange skin, colour casts, flicker). This module does it with numbers:

1. :func:`~vs_colorize.training.inflection.evaluate.evaluate_checkpoints` colourises a fixed held-out set of colour photos, fed as grey, with every checkpoint
   and scores the outputs with :mod:`vs_colorize.training.metrics`.
2. :func:`pick_index` applies the rule below to the metric curves.
3. :func:`pick_inflection` does both for a folder, writes a report (:mod:`vs_colorize.training.inflection.report`) and a ``best`` link.

**The rule.** Each *signal* (a metric where lower is better, or the positive part of a signed drift) is smoothed
over checkpoints with a running median of 3 (a single-step outlier cannot move it). For every signal, the running
best ``b_k = min(s_0..s_k)`` is tracked; checkpoint ``k`` is *degraded* on a signal when
``s_k > b_k + max(rel_tol · |b_k|, abs_tol)``. The **turn** is the first checkpoint degraded on some signal for
``patience`` consecutive checkpoints (or up to the last one); a ``score_only`` signal (the opt-in
``COLOUR_PREFERENCE``, which prefers bolder colour) never calls a turn. Each checkpoint also gets a combined score
``Σ weight · s / ref`` (``ref`` = the signal's median over checkpoints, at least ``abs_tol``, so every term is about 1).
Among the checkpoints strictly before the turn (all of them when quality never turns), the pick is the **latest**
whose score is within ``margin`` (relative, default 3 %) of the lowest score there: scores that close are not told
apart by a small holdout set, and the later checkpoint has had more of the GAN training that is the point of the
phase — DeOldify's "just before glitches start". Signals with ``nan`` values (e.g. no skin in the holdout set) are
left out.
"""

from __future__ import annotations

from typing import Any

from vs_colorize.core.lazy import lazy_attribute

#: Public name → the submodule defining it; imported on first use (``evaluate`` and ``picker`` need torch,
#: the ``pick`` command's arguments and the rule do not).
_API = {
    "COLOUR_PREFERENCE": ".rule",
    "DEFAULT_SIGNALS": ".rule",
    "Pick": ".rule",
    "Signal": ".rule",
    "pick_index": ".rule",
    "CheckpointEval": ".evaluate",
    "checkpoint_step": ".evaluate",
    "evaluate_checkpoints": ".evaluate",
    "find_checkpoints": ".evaluate",
    "pick_inflection": ".picker",
    "run": ".picker",
    "add_arguments": ".args",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _API, name)
