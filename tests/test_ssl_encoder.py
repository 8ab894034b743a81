"""scripts/ssl_encoder.py: contrastive encoder pretraining whose output ``gen.pretrained_encoder`` loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from scripts.ssl_encoder import main, nt_xent
from vs_colorize.training.archs.resnet import (
    ResNetEncoder,
    encoder_to_torchvision_keys,
    torchvision_to_encoder_keys,
)
from vs_colorize.training.archs.unet import build_generator
from vs_colorize.training.data import scan_images


def test_encoder_keys_are_torchvision_names_and_round_trip() -> None:
    state = ResNetEncoder("resnet18").state_dict()
    named = encoder_to_torchvision_keys(state)
    reference = torchvision.models.resnet18(weights=None).state_dict()
    assert set(named) == {k for k in reference if not k.startswith("fc.")}
    assert all(named[k].shape == reference[k].shape for k in named)  # width 64 is torchvision's
    back = torchvision_to_encoder_keys(named)
    assert list(back) == list(state)
    assert all(back[k] is v for k, v in state.items())


def test_nt_xent_rewards_twins_that_agree() -> None:
    torch.manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
    agree, accuracy = nt_xent(torch.cat([z, z]), 0.2)
    shuffled, _ = nt_xent(torch.cat([z, z.roll(1, dims=0)]), 0.2)
    assert accuracy == 1.0
    assert float(agree) < float(shuffled)


def _photos(root: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    root.mkdir()
    for i in range(n):
        arr = (rng.random((40, 48, 3)) * 255).astype(np.uint8)
        arr[:, :, i % 3] = 255  # colour: scan_images skips grey files
        Image.fromarray(arr).save(root / f"p{i}.png")
    return root


def test_script_trains_an_encoder_the_generator_loads_and_keeps_an_existing_file(tmp_path: Path) -> None:
    data = _photos(tmp_path / "photos", 20)
    out = tmp_path / "enc.pth"
    args = ["--data", str(data), "--out", str(out), "--steps", "3", "--batch", "4", "--size", "32"]
    assert main([*args, "--val-pct", "0.3"]) == 0
    report = json.loads(out.with_name("enc.pth.json").read_text())
    train = scan_images([data], 0.3).train
    assert report["photos"] == len(train) < 20  # the generator's validation photos stay unseen
    assert report["steps"] == 3 and report["encoder_width"] == 16
    state = torch.load(out, weights_only=True)
    generator = build_generator("tiny", pretrained_encoder=str(out))
    assert torch.equal(generator.layers[0][0].weight, state["conv1.weight"])
    torch.manual_seed(2026)  # the script's seed: the encoder it started from
    start = ResNetEncoder("resnet18", width=16)[0].weight
    assert not torch.equal(state["conv1.weight"], start)  # trained
    frozen = tmp_path / "lr0.pth"
    assert main([*args[:3], str(frozen), *args[4:], "--lr", "0"]) == 0
    assert torch.equal(torch.load(frozen, weights_only=True)["conv1.weight"], start)  # (the premise)
    before = out.read_bytes()
    with pytest.raises(SystemExit) as refused:
        main(args)
    assert refused.value.code == 2
    assert out.read_bytes() == before
