"""The shared setup and tail of the three training phases (generator pretraining, critic pretraining, GAN).

A phase calls :func:`resume_state` (reads its :class:`~vs_colorize.training.state.TrainState` once, if any, and seeds the
phase), builds its models, optimisers, schedulers and scalers, then hands them to :class:`PhaseLoop`, which
restores a resumed state, logs the start, feeds the step-aligned data loader and a progress bar, and after every
step (:meth:`PhaseLoop.end_step`) logs, draws image grids and writes the resume state; :meth:`PhaseLoop.finish`
logs the end, lets rank 0 write the phase's outputs and marks the phase done. Only the step body stays in the phase.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from vs_colorize.training.config import CriticStage, GenStage
from vs_colorize.training.data import StepSampler, denormalise, make_loader
from vs_colorize.training.optim import one_cycle, steps_for
from vs_colorize.training.phases.context import Phase, Run
from vs_colorize.training.state import Stateful, TrainState, seed_everything

Batch = tuple[torch.Tensor, torch.Tensor]


def resume_state(run: Run, phase: Phase) -> TrainState | None:
    """The phase's saved state (``None`` on a fresh start), then the phase's own seed applied."""
    path = run.resume_path(phase)
    state = TrainState.load(path) if path.exists() else None
    seed_everything(run.seed(phase))
    return state


class PhaseLoop:
    """Progress, logging and periodic saves of one training phase.

    Args:
        run: the run.
        phase: the phase.
        total: optimiser steps of the phase.
        save_every: write the resume state (and call ``end_step``'s ``checkpoint``) every this many steps.
        resumed: what :func:`resume_state` returned; when given, its optimiser, scheduler, scaler and RNG states
            are restored into the objects below and :attr:`step` continues from it.
        models, optimizers, schedulers, scalers: what the resume state holds, by name (the unwrapped models).
        extra: called at each save for phase-specific state (restored by the phase from :attr:`extra`).
        start: extra fields of the ``start`` event.
    """

    def __init__(
        self,
        run: Run,
        phase: Phase,
        *,
        total: int,
        save_every: int,
        resumed: TrainState | None,
        models: Mapping[str, nn.Module],
        optimizers: Mapping[str, Stateful],
        schedulers: Mapping[str, Stateful],
        scalers: Mapping[str, Stateful],
        extra: Callable[[], dict[str, Any]] = dict,
        **start: Any,
    ) -> None:
        self.run, self.phase, self.total, self.save_every = run, phase, total, save_every
        self._objects = (models, optimizers, schedulers, scalers)
        self._extra = extra
        self.step = 0
        self.extra: dict[str, Any] = {}
        if resumed is not None:
            resumed.restore(optimizers, schedulers, scalers)
            self.step, self.extra = resumed.step, resumed.extra
            run.logs.event("resume", phase=phase.name, step=self.step)
        run.logs.event("start", phase=phase.name, steps=total, save_every=save_every, **start)
        self._bar = run.logs.bar(phase.name, total, self.step)

    def loader(self, dataset: Dataset[Batch], n_items: int, batch_size: int) -> DataLoader[Batch]:
        """The phase's data: ``batch_size`` items per step from the current step on, this rank's share."""
        info = self.run.info
        sampler = StepSampler(
            n_items, batch_size, self.run.seed(self.phase), self.total, self.step, info.rank, info.world
        )
        return make_loader(dataset, sampler, self.run.cfg.data, self.run.pin_memory())

    def end_step(
        self,
        values: dict[str, float],
        *,
        postfix: dict[str, str],
        images: Sequence[torch.Tensor] = (),
        checkpoint: Callable[[int], None] | None = None,
    ) -> None:
        """Count the step just taken and record it: the loss record, the bar, image grids (``images``: normalised
        input/output/target batches, every ``image_every`` steps and at the end), and every ``save_every`` steps
        on rank 0 ``checkpoint(step)`` (also at the last step) then the resume state (not at the last step)."""
        run, name = self.run, self.phase.name
        self.step += 1
        step = self.step
        run.logs.step(name, step, values)
        self._bar.update(1)
        self._bar.set_postfix(postfix)
        if images and (step % run.cfg.image_every == 0 or step == self.total):
            run.logs.images(f"{name}/input_output_target", step, [denormalise(t) for t in images])
        if (step % self.save_every == 0 or step == self.total) and run.info.is_main:
            if checkpoint is not None:
                checkpoint(step)
            if step < self.total:
                models, optimizers, schedulers, scalers = self._objects
                state = TrainState.capture(name, step, models, optimizers, schedulers, scalers, self._extra())
                state.save(run.resume_path(self.phase))

    def finish(self, write: Callable[[], object], **end: Any) -> None:
        """Close the bar, log the end, let rank 0 ``write()`` the phase's outputs, and mark the phase done."""
        self._bar.close()
        self.run.logs.event("end", phase=self.phase.name, step=self.step, **end)
        if self.run.info.is_main:
            write()
        self.run.mark_done(self.phase)


def one_cycle_loop(
    run: Run,
    phase: Phase,
    resumed: TrainState | None,
    stage: GenStage | CriticStage,
    name: str,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    n_items: int,
    **start: Any,
) -> tuple[PhaseLoop, torch.optim.lr_scheduler.LRScheduler, torch.amp.GradScaler]:
    """The loop of a single-network ``fit_one_cycle`` phase over ``n_items`` items (generator or critic
    pretraining): its steps, one-cycle schedule and gradient scaler, saved under ``name``."""
    total = steps_for(n_items, stage.batch_size, run.info.world, stage.epochs, stage.max_steps)
    sched = one_cycle(opt, total, stage.pct_start)
    scaler = run.precision.scaler()
    loop = PhaseLoop(
        run,
        phase,
        total=total,
        save_every=run.cfg.checkpoint_every,
        resumed=resumed,
        models={name: model},
        optimizers={name: opt},
        schedulers={name: sched},
        scalers={name: scaler},
        size=stage.size,
        batch_size=stage.batch_size,
        **start,
    )
    return loop, sched, scaler
