"""The NoGAN pipeline: the phase plan of a run and the runner that executes (or resumes) it.

Plan: ``gen.0 … gen.<S-1>`` (pretraining stages), then per cycle ``c``: ``fakes.c`` → ``critic.c`` → ``gan.c``
(:class:`~vs_colorize.training.phases.context.Phase` records; :data:`RUNNERS` maps each kind to its runner). Finished phases
are recorded in ``progress.json``; an unfinished one resumes from its training state ``resume/<phase>.pt``.
Every phase reads its inputs from the run directory, so each can also run on its own (CLI phase subcommands).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from vs_colorize.training import dist
from vs_colorize.training.config import TrainConfig, save_config
from vs_colorize.training.data import Scan, scan_images
from vs_colorize.training.device import Precision, select_device
from vs_colorize.training.phases.context import Kind, Phase, Run, RunLog
from vs_colorize.training.phases.critic import run_critic
from vs_colorize.training.phases.fakes import run_fakes
from vs_colorize.training.phases.gan import checkpoint_dir, run_gan
from vs_colorize.training.phases.gen_pretrain import run_gen_stage

log = logging.getLogger(__name__)

PHASE_KINDS = tuple(Kind)
#: What runs each kind of phase.
RUNNERS: dict[Kind, Callable[[Run, Phase], None]] = {
    Kind.GEN: run_gen_stage,
    Kind.FAKES: run_fakes,
    Kind.CRITIC: run_critic,
    Kind.GAN: run_gan,
}
#: Kinds that train with the feature loss.
FEATURE_LOSS_KINDS = (Kind.GEN, Kind.GAN)


def phases(cfg: TrainConfig) -> list[Phase]:
    """The ordered phases of a run."""
    order = [Phase(Kind.GEN, i) for i in range(len(cfg.gen.stages))]
    for c in range(cfg.cycles):
        order += [Phase(Kind.FAKES, c), Phase(Kind.CRITIC, c), Phase(Kind.GAN, c)]
    return order


def plan(cfg: TrainConfig) -> list[str]:
    """The ordered phase names of a run (as ``progress.json`` records them)."""
    return [p.name for p in phases(cfg)]


def open_run(cfg: TrainConfig, out: Path, info: dist.DistInfo) -> Run:
    """Prepare run directory ``out`` for ``cfg`` (a new run's config, or the one read from ``out/config.json``).

    Rank 0 writes ``config.json`` (when absent) and ``scan.json`` (scanning the data once); the other ranks wait
    and read them. Callers decide beforehand whether ``out`` may hold a run (see ``vs_colorize.training.cli``).
    """
    cfg.validate()
    if not cfg.data.dirs:
        raise ValueError("open_run: data.dirs is empty; pass --data DIR")
    saved = out / "config.json"
    device = select_device(cfg.device, info.local_rank)
    scan_file = out / "scan.json"
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        if not saved.exists():
            save_config(cfg, saved)
        if not scan_file.exists():
            scan_images(cfg.data.dirs, cfg.data.val_pct, cfg.data.max_images, cfg.data.num_workers).save(
                scan_file
            )
    dist.barrier()
    scan = Scan.load(scan_file)
    log.info(
        "run %s: recipe %s, %d train / %d val images, device %s",
        out,
        cfg.recipe,
        len(scan.train),
        len(scan.val),
        device,
    )
    logs = RunLog(out, info.is_main, log_every=cfg.log_every)
    return Run(cfg, out, info, device, scan, logs, Precision(device, cfg.amp, cfg.channels_last))


def execute(
    run: Run, kinds: tuple[Kind, ...] = PHASE_KINDS, cycle: int | None = None, pick: Path | None = None
) -> None:
    """Run every unfinished phase of ``kinds`` (optionally only cycle ``cycle``), in plan order.

    A phase whose predecessors are unfinished raises ``RuntimeError`` naming them. ``pick``: a held-out image
    folder; after each GAN phase the inflection picker (``vs_colorize.training.inflection.pick_inflection``) chooses a checkpoint.
    """
    order = phases(run.cfg)
    for i, phase in enumerate(order):
        if phase.kind not in kinds or (cycle is not None and phase.kind != Kind.GEN and phase.index != cycle):
            continue
        if run.is_done(phase):
            log.info("%s: already done, skipped", phase)
            continue
        missing = [p.name for p in order[:i] if not run.is_done(p)]
        if missing:
            raise RuntimeError(f"execute: phase {phase} needs {missing} finished first")
        if phase.kind in FEATURE_LOSS_KINDS:
            run.generator_loss()  # built before the phase seeds itself, so a resumed process builds the same one
        RUNNERS[phase.kind](run, phase)
        if phase.kind == Kind.GAN and pick is not None and run.info.is_main:
            pick_checkpoint(run, phase.index, pick)


def pick_checkpoint(run: Run, cycle: int, holdout: Path) -> Path | None:
    """Run the inflection picker on cycle ``cycle``'s GAN checkpoints (report in ``cycle<c>/pick``).

    Returns the chosen checkpoint, or ``None`` when the picker failed (logged; the checkpoints stay for a manual
    pick and training goes on).
    """
    from vs_colorize.training.inflection import pick_inflection

    out_dir = run.cycle_dir(cycle) / "pick"
    try:
        best = pick_inflection(
            checkpoint_dir(run, cycle), holdout, out_dir, size=run.cfg.gan.size, device=str(run.device)
        )
    except Exception:
        log.exception("--pick: the inflection picker failed on %s", checkpoint_dir(run, cycle))
        return None
    log.info("inflection picker chose %s (report in %s)", best, out_dir)
    return best
