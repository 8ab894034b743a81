"""The inflection-picking rule: signals, the pick, and :func:`pick_index` over metric curves.

Pure Python (no torch): the rule is unit-tested on hand-made curves. The package docstring
(:mod:`vs_colorize.training.inflection`) states the rule in words.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Signal:
    """One degradation signal of the picking rule.

    Attributes:
        name: key in the per-checkpoint metrics dict.
        weight: weight of the signal in the combined score (>= 0).
        rel_tol: allowed rise over the running best, relative to it (e.g. 0.1 = 10 %).
        abs_tol: allowed rise in the metric's own units at least (keeps near-zero bests from triggering on noise).
        over_only: use ``max(value, 0)``: for signed drifts where only the excess is a glitch (more saturated or
            more colourful than the truth); being duller than the truth is what a pixel-loss model does anyway.
        score_only: the signal enters the combined score but never calls a turn (a preference between healthy
            checkpoints, not a glitch detector).
    """

    name: str
    weight: float
    rel_tol: float
    abs_tol: float
    over_only: bool = False
    score_only: bool = False

    def value(self, metric: float) -> float:
        """The signal's value for a raw metric value."""
        return max(metric, 0.0) if self.over_only else metric


DEFAULT_SIGNALS: tuple[Signal, ...] = (
    Signal(name="chroma_error", weight=1.0, rel_tol=0.10, abs_tol=0.5),
    Signal(name="colourfulness_gap", weight=0.5, rel_tol=0.25, abs_tol=3.0, over_only=True),
    Signal(name="skin_sat_drift", weight=0.5, rel_tol=0.25, abs_tol=2.0, over_only=True),
    Signal(name="skin_hue_drift", weight=0.25, rel_tol=0.25, abs_tol=15.0),
    Signal(name="neutral_cast", weight=0.5, rel_tol=0.25, abs_tol=2.0),
    Signal(name="noise_instability", weight=0.5, rel_tol=0.25, abs_tol=1.0),
)
#: Opt-in (``pick --prefer-colour``): the truth's colourfulness minus the output's, when positive, in the score
#: only. It prefers the bolder of equally healthy checkpoints. Not a default: in the measurements so far it moved
#: the pick to a bolder but less accurate and less stable checkpoint (docs/inflection.md).
COLOUR_PREFERENCE = Signal(
    name="colourfulness_shortfall", weight=0.5, rel_tol=0.25, abs_tol=3.0, score_only=True
)


@dataclass(frozen=True)
class Pick:
    """Outcome of :func:`pick_index`.

    Attributes:
        index: position of the picked checkpoint.
        turn_index: position of the first degraded checkpoint, or ``None`` when quality never turns.
        turn_signals: the signals degraded at the turn.
        scores: combined score per checkpoint (lower is better), from the smoothed signals.
        smoothed: the smoothed signal curves used, by signal name.
    """

    index: int
    turn_index: int | None
    turn_signals: tuple[str, ...]
    scores: list[float]
    smoothed: dict[str, list[float]] = field(default_factory=dict)


def _median3(values: Sequence[float]) -> list[float]:
    """Running median of 3; the ends use the nearest full window so a spike at either end is removed too."""
    n = len(values)
    if n < 3:
        return list(values)
    out = []
    for i in range(n):
        lo = min(max(i - 1, 0), n - 3)
        out.append(statistics.median(values[lo : lo + 3]))
    return out


def pick_index(
    metrics: Sequence[Mapping[str, float]],
    *,
    signals: Sequence[Signal] = DEFAULT_SIGNALS,
    patience: int = 2,
    margin: float = 0.03,
) -> Pick:
    """Apply the picking rule (module docstring) to per-checkpoint metrics ordered by training step.

    Args:
        metrics: one metrics dict per checkpoint, in training order (at least one).
        signals: the degradation signals with their weights and tolerances; default :data:`DEFAULT_SIGNALS`.
        patience: consecutive degraded checkpoints needed to call a turn (>= 1; default 2).
        margin: relative score difference treated as a tie, in [0, 1) (default 0.03); ties go to the later one.

    Returns:
        The :class:`Pick`.
    """
    if not metrics:
        raise ValueError("pick_index: metrics is empty (no checkpoint to pick from)")
    if patience < 1:
        raise ValueError(f"pick_index: patience must be >= 1, got {patience}")
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"pick_index: margin must be in [0, 1), got {margin}")
    n = len(metrics)
    curves: dict[str, list[float]] = {}
    active: list[Signal] = []
    for sig in signals:
        raw = [float(m.get(sig.name, math.nan)) for m in metrics]
        if any(math.isnan(v) for v in raw):
            log.info("pick_index: signal %s left out (missing or nan)", sig.name)
            continue
        curves[sig.name] = _median3([sig.value(v) for v in raw])
        active.append(sig)

    degraded: list[list[str]] = [[] for _ in range(n)]
    scores = [0.0] * n
    for sig in active:
        curve = curves[sig.name]
        ref = max(statistics.median(curve), sig.abs_tol)
        best = math.inf
        for k, v in enumerate(curve):
            best = min(best, v)
            if not sig.score_only and v > best + max(sig.rel_tol * abs(best), sig.abs_tol):
                degraded[k].append(sig.name)
            scores[k] += sig.weight * v / ref

    turn = None
    for k in range(n):
        window = degraded[k : k + patience]
        common = set(window[0]).intersection(*window[1:]) if window[0] else set()
        if common:
            turn = k
            break
    candidates = range(n) if turn is None else range(turn)
    lowest = min(scores[k] for k in candidates)
    index = max(k for k in candidates if scores[k] <= lowest + margin * abs(lowest))
    turn_signals = tuple(s.name for s in active if turn is not None and s.name in degraded[turn])
    return Pick(index=index, turn_index=turn, turn_signals=turn_signals, scores=scores, smoothed=curves)
