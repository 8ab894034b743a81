"""The run directory, its layout and progress record, and the run's logging (JSON lines, TensorBoard, progress bars).

Layout of a run directory::

    config.json                   the resolved TrainConfig
    scan.json                     the train/val file lists (so a resumed run sees the same data)
    progress.json                 phases finished so far
    losses.jsonl                  one JSON line per optimiser step (and resume events)
    tb/                           TensorBoard scalars and image grids
    resume/<phase>.pt             the unfinished phase's latest TrainState (vs_colorize.training.state)
    gen_pretrain/stage<i>.pt      the generator after pretraining stage i
    gen_pretrain/generator.pt     the pretrained generator (= the last stage)
    cycle<c>/fakes/*.png          images generated for the critic; cycle<c>/fakes.json lists fakes and reals
    cycle<c>/critic.pt            the pretrained critic of cycle c
    cycle<c>/gan/gen_<step>.pt    GAN-phase generator checkpoints (what the inflection picker reads)
    cycle<c>/generator.pt         the generator at the end of cycle c's GAN phase
    cycle<c>/critic_gan.pt        the critic at the end of cycle c's GAN phase
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

import torch
from tqdm import tqdm

from vs_colorize.training import dist
from vs_colorize.training.config import TrainConfig
from vs_colorize.training.data import Scan, stable_hash
from vs_colorize.training.device import Precision
from vs_colorize.training.losses import GeneratorLoss, build_generator_loss

log = logging.getLogger(__name__)


class Kind(StrEnum):
    """The four kinds of NoGAN phase."""

    GEN = "gen"
    FAKES = "fakes"
    CRITIC = "critic"
    GAN = "gan"


@dataclass(frozen=True)
class Phase:
    """One phase of a run: pretraining stage ``index`` (``gen``) or NoGAN cycle ``index`` (the others)."""

    kind: Kind
    index: int

    @property
    def name(self) -> str:
        """``<kind>.<index>``: the phase's name in ``progress.json``, logs, resume files and seeds."""
        return f"{self.kind}.{self.index}"

    def __str__(self) -> str:
        return self.name


class RunLog:
    """Per-step records for one process: JSON lines and TensorBoard on rank 0, nothing on other ranks."""

    def __init__(self, out: Path, main: bool, log_every: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.main = main
        self.log_every = max(1, log_every)
        self._jsonl = _open_jsonl(out / "losses.jsonl") if main else None
        self._tb = SummaryWriter(log_dir=str(out / "tb")) if main else None

    def step(self, phase: str, step: int, values: dict[str, float]) -> None:
        """Record one optimiser step's values (every step to JSON, every ``log_every`` to TensorBoard)."""
        if self._jsonl is not None:
            self._jsonl.write(json.dumps({"phase": phase, "step": step, **values}) + "\n")
            self._jsonl.flush()
        if self._tb is not None and step % self.log_every == 0:
            for k, v in values.items():
                self._tb.add_scalar(f"{phase}/{k}", v, step)

    def event(self, kind: str, **fields: Any) -> None:
        """A non-step record (phase start/end, resume)."""
        if self._jsonl is not None:
            self._jsonl.write(json.dumps({"event": kind, **fields}) + "\n")
            self._jsonl.flush()
        log.info("%s %s", kind, fields)

    def images(self, tag: str, step: int, rows: list[torch.Tensor]) -> None:
        """An image grid: each entry of ``rows`` is a ``[N, 3, H, W]`` batch in [0, 1] (one grid row each)."""
        if self._tb is None:
            return
        n = min(r.shape[0] for r in rows)
        # [rows, n, 3, H, W] → [3, rows·H, n·W]
        grid = torch.stack([r[:n].detach().float().cpu() for r in rows])
        k, _, c, h, w = grid.shape
        self._tb.add_image(tag, grid.permute(2, 0, 3, 1, 4).reshape(c, k * h, n * w), step)

    def bar(self, phase: str, total: int, start: int) -> tqdm[Any]:
        """A progress bar on stderr (rank 0 only)."""
        return tqdm(
            total=total, initial=start, desc=phase, file=sys.stderr, disable=not self.main, dynamic_ncols=True
        )

    def close(self) -> None:
        """Flush and close the JSON-lines file and the TensorBoard writer."""
        if self._jsonl is not None:
            self._jsonl.close()
        if self._tb is not None:
            self._tb.close()


def _open_jsonl(path: Path) -> TextIO:
    """Open for appending, first dropping a partial last line a killed process may have left."""
    if path.exists():
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            with path.open("r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)
    return path.open("a")


@dataclass
class Run:
    """Everything a phase needs: the config, the run directory, this process's place, the data and the logs."""

    cfg: TrainConfig
    out: Path
    info: dist.DistInfo
    device: torch.device
    scan: Scan
    logs: RunLog
    precision: Precision
    _done: list[str] = field(default_factory=list)
    _generator_loss: GeneratorLoss | None = None

    def __post_init__(self) -> None:
        path = self.out / "progress.json"
        if path.exists():
            self._done = json.loads(path.read_text())["done"]

    def seed(self, phase: Phase) -> int:
        """The phase's own seed (so a phase run alone equals the same phase inside ``nogan``)."""
        return (self.cfg.seed * 1_000_003 + stable_hash("phase:" + phase.name)) % 2**31

    def is_done(self, phase: Phase) -> bool:
        """Whether ``phase`` is recorded as finished in ``progress.json``."""
        return phase.name in self._done

    def mark_done(self, phase: Phase) -> None:
        """Record a finished phase and drop its resume state (rank 0), then sync ranks."""
        self._done.append(phase.name)
        if self.info.is_main:
            from vs_colorize.core.fileio import atomic_output

            with atomic_output(self.out / "progress.json", overwrite=True) as tmp:
                tmp.write_text(json.dumps({"done": self._done}, indent=1))
            self.resume_path(phase).unlink(missing_ok=True)
        dist.barrier()

    def generator_loss(self) -> GeneratorLoss:
        """The run's generator loss, built on first use (it loads VGG weights) and shared by later phases."""
        if self._generator_loss is None:
            self._generator_loss = build_generator_loss(self.cfg.loss)
        return self._generator_loss

    def resume_path(self, phase: Phase) -> Path:
        """The :class:`vs_colorize.training.state.TrainState` file of ``phase``."""
        return self.out / "resume" / f"{phase.name}.pt"

    def cycle_dir(self, cycle: int) -> Path:
        """The folder of NoGAN cycle ``cycle``."""
        return self.out / f"cycle{cycle}"

    def generator_for_cycle(self, cycle: int) -> Path:
        """The generator a cycle starts from: the pretrained one, then each previous cycle's GAN result."""
        if cycle == 0:
            return self.out / "gen_pretrain" / "generator.pt"
        return self.cycle_dir(cycle - 1) / "generator.pt"

    def pin_memory(self) -> bool:
        """Whether loaders should pin host memory (when training on CUDA)."""
        return self.device.type == "cuda"
