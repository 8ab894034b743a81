"""Every loader of weights, checkpoints and state dicts refuses a crafted pickle without running it (issue 18.2).

Each file hides ``open(marker, 'w')`` in a ``__reduce__`` beside real tensors; the loader must fail with one
clear line naming the function, the argument and the file, never suggest ``weights_only=False``, and the
marker must never appear.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from crafted import Payload, evil_torch_file

from vs_colorize.training.archs import build_generator, preset
from vs_colorize.training.archs.safe_load import UnsafeFileError
from vs_colorize.training.checkpoint import (
    CheckpointError,
    load_critic,
    load_generator,
    load_sr,
    read_checkpoint,
)
from vs_colorize.training.inflection import checkpoint_step
from vs_colorize.training.losses import vgg16_bn_features


def _write_legacy(path: Path, marker: Path) -> Path:
    """The same payload in torch's pre-1.6 (non-zip) serialisation, which DeOldify's .pth files use."""
    torch.save(
        {"model": {"w": torch.zeros(1)}, "opt": Payload(marker)}, path, _use_new_zipfile_serialization=False
    )
    return path


#: loader → (call, error type, message pattern; {path} is the file).
LOADERS: dict[str, tuple[Callable[[Path], Any], type[Exception], str]] = {
    "read_checkpoint": (
        read_checkpoint,
        CheckpointError,
        r"read_checkpoint: {path} contains objects that are not safe",
    ),
    "load_generator": (
        load_generator,
        CheckpointError,
        r"load_generator: {path} contains objects that are not safe",
    ),
    "load_critic": (load_critic, CheckpointError, r"load_critic: {path} contains objects that are not safe"),
    "load_sr": (load_sr, CheckpointError, r"load_sr: {path} contains objects"),
    "pretrained_encoder": (
        lambda p: build_generator("tiny", pretrained_encoder=str(p)),
        UnsafeFileError,
        r"build_generator: pretrained_encoder {path} holds the global _io.open, not only tensors",
    ),
    "vgg weights": (
        lambda p: vgg16_bn_features(str(p)),
        UnsafeFileError,
        r"vgg16_bn_features: weights {path} holds the global _io.open, not only tensors",
    ),
}


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_loader_refuses_crafted_pickle(tmp_path: Path, loader: str, legacy: bool) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    _write_legacy(path, marker) if legacy else evil_torch_file(path, marker)
    call, error, pattern = LOADERS[loader]
    with pytest.raises(error) as caught:
        call(path)
    message = str(caught.value)
    assert re.match(pattern.format(path=re.escape(repr(str(path)))), message), message
    assert "weights_only=False" not in message and "\n" not in message
    assert not marker.exists(), f"{loader} ran code from the file"


def test_checkpoint_step_reads_nothing_unsafe(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = evil_torch_file(tmp_path / "gen_1200.pt", marker)
    assert checkpoint_step(path) == 1200  # the name decides when the file cannot be read safely
    assert not marker.exists()


@pytest.mark.parametrize("which", ["vgg", "resnet"])
def test_hub_cache_file_is_read_safely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which: str) -> None:
    """torchvision's ``get_state_dict`` unpickles the hub cache with ``weights_only=False`` unless told."""
    from torchvision.models import ResNet18_Weights, VGG16_BN_Weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    weights = VGG16_BN_Weights.IMAGENET1K_V1 if which == "vgg" else ResNet18_Weights.IMAGENET1K_V1
    cached = tmp_path / "hub" / "checkpoints" / Path(weights.url).name
    cached.parent.mkdir(parents=True)
    marker = tmp_path / "pwned"
    evil_torch_file(cached, marker)
    with pytest.raises(UnsafeFileError, match=rf"{re.escape(repr(str(cached)))} holds the global _io.open"):
        if which == "vgg":
            vgg16_bn_features("imagenet")
        else:
            build_generator(dataclasses.replace(preset("tiny"), encoder_width=64), pretrained_encoder=True)
    assert not marker.exists(), "a file in the torch hub cache ran code"
