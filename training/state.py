"""Training state: what a phase needs to continue exactly where it stopped, kept apart from model files.

A :class:`TrainState` file holds the phase's models (each in the model-file layout of :mod:`vs_colorize.training.checkpoint`),
its optimisers, schedulers and gradient scalers (``state_dict()`` each, by name), the step, every global RNG state
and phase-specific ``extra`` (the GAN switcher's mode). Layout::

    {"format": "vs-colorize/train-state", "version": STATE_VERSION, "package_version": "x.y.z",
     "phase": "gan.0", "step": 12, "models": {"generator": <model record>, ...},
     "optimizers": {...}, "schedulers": {...}, "scalers": {...}, "rng": {...}, "extra": {...}}

It is read once, with ``weights_only=True``; models are built from the loaded dict (no second read, no hashing).
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from vs_colorize._version import __version__
from vs_colorize.core.fileio import atomic_output
from vs_colorize.training.archs import Critic, UnetGenerator
from vs_colorize.training.checkpoint import (
    CRITIC_FORMAT,
    GENERATOR_FORMAT,
    CheckpointError,
    critic_from_record,
    generator_from_record,
    model_record,
    read_checkpoint,
)

STATE_FORMAT = "vs-colorize/train-state"
STATE_VERSION = 1


class Stateful(Protocol):
    """Anything with ``state_dict()`` / ``load_state_dict()`` (optimisers, schedulers, gradient scalers)."""

    def state_dict(self) -> Any: ...
    def load_state_dict(self, state: Any, /) -> Any: ...


@dataclass
class TrainState:
    """One phase's resumable state (see the module docstring); build it with :meth:`capture`."""

    phase: str
    step: int
    models: dict[str, dict[str, Any]]
    optimizers: dict[str, Any] = field(default_factory=dict)
    schedulers: dict[str, Any] = field(default_factory=dict)
    scalers: dict[str, Any] = field(default_factory=dict)
    rng: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def capture(
        cls,
        phase: str,
        step: int,
        models: Mapping[str, nn.Module],
        optimizers: Mapping[str, Stateful],
        schedulers: Mapping[str, Stateful],
        scalers: Mapping[str, Stateful],
        extra: Mapping[str, Any] | None = None,
    ) -> TrainState:
        """The state of live objects now, the global RNG states included."""
        return cls(
            phase=phase,
            step=step,
            models={k: model_record(m, "TrainState.capture") for k, m in models.items()},
            optimizers={k: o.state_dict() for k, o in optimizers.items()},
            schedulers={k: s.state_dict() for k, s in schedulers.items()},
            scalers={k: s.state_dict() for k, s in scalers.items()},
            rng=rng_state(),
            extra=dict(extra or {}),
        )

    def restore(
        self,
        optimizers: Mapping[str, Stateful],
        schedulers: Mapping[str, Stateful],
        scalers: Mapping[str, Stateful],
    ) -> None:
        """Load the saved optimiser, scheduler and scaler states into live objects (the names must match the
        captured ones) and restore the global RNG states."""
        for what, saved, live in (
            ("optimizers", self.optimizers, optimizers),
            ("schedulers", self.schedulers, schedulers),
            ("scalers", self.scalers, scalers),
        ):
            if set(saved) != set(live):
                raise CheckpointError(
                    f"TrainState.restore: phase {self.phase} saved {what} {sorted(saved)}, this run has {sorted(live)}"
                )
            for name, obj in live.items():
                obj.load_state_dict(saved[name])
        set_rng_state(self.rng)

    def generator(self, name: str = "generator") -> UnetGenerator:
        """The generator stored under ``name`` (built from the loaded dict)."""
        return generator_from_record(self._model(name), f"TrainState.generator: phase {self.phase}")

    def critic(self, name: str = "critic") -> Critic:
        """The critic stored under ``name`` (built from the loaded dict)."""
        return critic_from_record(self._model(name), f"TrainState.critic: phase {self.phase}")

    def _model(self, name: str) -> dict[str, Any]:
        if name not in self.models:
            raise CheckpointError(
                f"TrainState: phase {self.phase} has no model {name!r} (has {sorted(self.models)})"
            )
        return self.models[name]

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the state atomically (replacing an older one); returns the path."""
        payload = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "package_version": __version__,
            "phase": self.phase,
            "step": self.step,
            "models": self.models,
            "optimizers": self.optimizers,
            "schedulers": self.schedulers,
            "scalers": self.scalers,
            "rng": self.rng,
            "extra": self.extra,
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path, overwrite=True) as tmp:
            torch.save(payload, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainState:
        """Read a state file (once, ``weights_only=True``).

        Raises:
            FileNotFoundError: ``path`` does not exist.
            CheckpointError: unreadable or foreign files, newer layouts, and resume files of the previous layout
                (a model file carrying optimiser state), with how to go on.
        """
        where = f"TrainState.load: {os.fspath(path)!r}"
        obj = read_checkpoint(path, "TrainState.load")
        fmt = obj.get("format") if isinstance(obj, Mapping) else None
        if fmt in (GENERATOR_FORMAT, CRITIC_FORMAT) and "optimizer" in obj:
            raise CheckpointError(
                f"{where} is a resume checkpoint of the previous layout (a model file with optimiser state, "
                f"written by vs-colorize {obj.get('package_version')}); it cannot be converted. Finish the phase "
                "with that version, or delete the file to restart this phase from its beginning"
            )
        if fmt != STATE_FORMAT:
            raise CheckpointError(f"{where} has format {fmt!r}, expected {STATE_FORMAT!r}")
        version = obj.get("version")
        if not isinstance(version, int) or version > STATE_VERSION:
            raise CheckpointError(
                f"{where} has format version {version!r}; this vs-colorize ({__version__}) reads up to {STATE_VERSION}"
            )
        try:
            return cls(
                phase=str(obj["phase"]),
                step=int(obj["step"]),
                models=dict(obj["models"]),
                optimizers=dict(obj["optimizers"]),
                schedulers=dict(obj["schedulers"]),
                scalers=dict(obj["scalers"]),
                rng=dict(obj["rng"]),
                extra=dict(obj["extra"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{where} is a broken training state: {exc}") from None


def rng_state() -> dict[str, Any]:
    """Every global RNG state (torch CPU and CUDA, numpy, python) as ``weights_only``-loadable data."""
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy_key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
        "numpy_pos": int(np_state["state"]["pos"]),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": state["numpy_key"].numpy().astype(np.uint32), "pos": state["numpy_pos"]},
            "has_gauss": 0,
            "gauss": 0.0,
        }
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed torch (all devices), numpy and python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
