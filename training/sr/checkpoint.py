"""Self-describing SR checkpoints: model config + crappifier config + train state + package version.

Saved with :func:`torch.save` as plain dicts and tensors, loaded with ``weights_only=True``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from training.checkpoint import read_checkpoint
from vs_colorize._version import __version__
from vs_colorize.core.fileio import atomic_output

from ..archs.sr import SRConfig, SRNet
from .crappify import CrappifyConfig

FORMAT = "vs-colorize-sr/1"


def save_checkpoint(
    path: str | os.PathLike[str],
    model: SRNet,
    *,
    crappify: CrappifyConfig,
    train_state: dict[str, Any],
) -> Path:
    """Write ``model`` with everything needed to rebuild it; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": FORMAT,
        "version": __version__,
        "model": model.config.to_dict(),
        "crappify": crappify.to_dict(),
        "train_state": train_state,
        "state_dict": model.state_dict(),
    }
    with atomic_output(out, overwrite=True) as tmp:
        torch.save(blob, tmp)
    return out


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[SRNet, dict[str, Any]]:
    """Rebuild the model of an SR checkpoint (eval mode) and return it with the checkpoint's metadata.

    Raises ValueError naming ``path`` when the file is not an SR checkpoint.
    """
    blob = read_checkpoint(path, "load_checkpoint")
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"load_checkpoint: path {os.fspath(path)!r} is not a {FORMAT} checkpoint")
    model = SRNet(SRConfig(**blob["model"]))
    model.load_state_dict(blob["state_dict"], strict=True)
    model.eval()
    meta = {k: v for k, v in blob.items() if k != "state_dict"}
    return model, meta
