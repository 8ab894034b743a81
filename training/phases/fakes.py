"""Save generated images (NoGAN step 2): the cycle's generator colorizes a fixed sample of the training images.

The images are the centre square of each file resized to ``fakes.size`` (the grey input is Pillow-exact luma),
written as PNG into ``cycle<c>/fakes/``. ``cycle<c>/fakes.json`` then lists the fakes and an equally sized,
different sample of real training images for the critic. Each rank renders its own share of the images.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vs_colorize.core.fileio import write_text_atomic
from vs_colorize.training import dist
from vs_colorize.training.checkpoint import load_generator
from vs_colorize.training.crappify import luma_u8
from vs_colorize.training.data import centre_crop, denormalise, load_rgb, normalise, select, stable_hash
from vs_colorize.training.phases.context import Phase, Run

log = logging.getLogger(__name__)


def fakes_index(run: Run, cycle: int) -> Path:
    """The JSON file listing cycle ``cycle``'s generated and real images."""
    return run.cycle_dir(cycle) / "fakes.json"


def run_fakes(run: Run, phase: Phase) -> None:
    """Render the fakes of cycle ``phase.index`` with the generator the cycle starts from; write ``fakes.json``."""
    cfg, cycle = run.cfg.fakes, phase.index
    gen = run.precision.model(load_generator(run.generator_for_cycle(cycle)))
    sources = select(run.scan.train, cfg.keep_pct, cfg.max_images, salt=f"fakes:{cycle}")
    reals = select(run.scan.train, 1.0, 0, salt=f"reals:{cycle}")
    taken = set(sources)
    reals = [p for p in reals if p not in taken][: len(sources)] or reals[: len(sources)]
    folder = run.cycle_dir(cycle) / "fakes"
    folder.mkdir(parents=True, exist_ok=True)
    run.logs.event("start", phase=phase.name, images=len(sources), size=cfg.size)
    mine = sources[run.info.rank :: run.info.world]
    bar = run.logs.bar(phase.name, len(mine), 0)
    with torch.no_grad(), run.precision.autocast():
        for i in range(0, len(mine), cfg.batch_size):
            chunk = mine[i : i + cfg.batch_size]
            crops = [centre_crop(load_rgb(p), cfg.size) for p in chunk]
            grey = [np.repeat(luma_u8(c)[..., None], 3, axis=2).astype(np.float32) / 255.0 for c in crops]
            x = run.precision.batch(torch.stack([normalise(g) for g in grey]))
            out = denormalise(gen(x)).mul(255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
            for path, arr in zip(chunk, out, strict=True):
                Image.fromarray(arr, "RGB").save(folder / _fake_name(path))
            bar.update(len(chunk))
    bar.close()
    dist.barrier()
    if run.info.is_main:
        index = {"fakes": [str(folder / _fake_name(p)) for p in sources], "reals": reals}
        write_text_atomic(fakes_index(run, cycle), json.dumps(index, indent=1))
    run.logs.event("end", phase=phase.name, images=len(sources))
    run.mark_done(phase)


def _fake_name(source: str) -> str:
    return f"{stable_hash(source):016x}.png"
