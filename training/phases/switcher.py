"""fastai's ``AdaptiveGANSwitcher``: which network the next GAN step trains, decided from the last step's loss."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class AdaptiveSwitcher:
    """Train the critic while its loss stays at or above ``critic_thresh``, then the generator.

    After every step call :meth:`update` with that step's loss (all-reduced under DDP, so every rank switches
    together). In critic mode the switch to the generator happens when ``loss < critic_thresh`` (``None``:
    always). In generator mode the switch back happens when ``loss < gen_thresh`` (``None``, DeOldify's
    setting: after every generator step). fastai starts in critic mode (``gen_first=False``).
    """

    critic_thresh: float | None = 0.65
    gen_thresh: float | None = None
    gen_mode: bool = False

    def update(self, loss: float) -> bool:
        """Feed the loss of the step just taken; returns whether the mode switched."""
        thresh = self.gen_thresh if self.gen_mode else self.critic_thresh
        if thresh is None or loss < thresh:
            self.gen_mode = not self.gen_mode
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        """Thresholds and the current mode, for a training state (see :meth:`load_state_dict`)."""
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (unknown keys raise ``ValueError``)."""
        names = {f.name for f in fields(self)}
        unknown = sorted(set(state) - names)
        if unknown:
            raise ValueError(f"AdaptiveSwitcher.load_state_dict: unknown keys {unknown}")
        for key, value in state.items():
            setattr(self, key, value)
