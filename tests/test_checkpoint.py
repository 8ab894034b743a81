"""Checkpoints: DeOldify's fastai files in every container/serialisation form, our format, errors."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.deoldify_fill import fill_state_dict, load_array, load_manifest
from vs_colorize.core.fileio import sha256_file
from vs_colorize.training.archs import CriticConfig, bake_norms, build_critic, build_generator, preset
from vs_colorize.training.checkpoint import (
    GENERATOR_FORMAT,
    CheckpointError,
    load_critic,
    load_generator,
    read_checkpoint,
    save_critic,
    save_generator,
)


def _fastai_opt() -> dict:
    """A real torch.optim state dict with numpy scalars in it, as fastai's fit_one_cycle leaves."""
    param = torch.nn.Parameter(torch.ones(4))
    opt = torch.optim.Adam([param], lr=np.float64(1e-3), betas=(np.float64(0.9), 0.99))
    param.sum().backward()
    opt.step()
    state = opt.state_dict()
    state["param_groups"][0]["wd"] = np.float32(1e-3)
    return state


def _write(path: Path, state: dict, container: str, zipfile: bool) -> Path:
    obj = {"model": state, "opt": _fastai_opt()} if container == "fastai" else state
    torch.save(obj, path, _use_new_zipfile_serialization=zipfile)
    return path


def _max_rel(y: torch.Tensor, ref: torch.Tensor) -> float:
    return ((y - ref).abs().max() / ref.abs().max()).item()


@pytest.fixture(scope="module")
def artistic_state(reference_dir: Path) -> Iterator[dict[str, torch.Tensor]]:
    state = fill_state_dict(load_manifest(reference_dir, "artistic"))
    yield state
    del state


@pytest.mark.parametrize("zipfile", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("container", ["fastai", "bare"])
def test_deoldify_artistic_forms(
    artistic_state: dict, reference_dir: Path, tmp_path: Path, container: str, zipfile: bool
) -> None:
    path = _write(tmp_path / "ColorizeArtistic_gen.pth", artistic_state, container, zipfile)
    if container == "fastai":  # the numpy scalars really need the allow-list
        with pytest.raises(Exception, match="Weights only load failed"):
            torch.load(path, weights_only=True)
    gen = load_generator(path, identify=True)
    assert gen.config.name == "artistic"
    assert not gen.training
    assert gen.source_sha256 == sha256_file(path)
    with torch.no_grad():
        y = gen(load_array(reference_dir, "input_80x80.npy"))
    assert _max_rel(y, load_array(reference_dir, "out_artistic_80x80.npy")) <= 1e-4


def test_deoldify_video_and_stable(reference_dir: Path, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "ColorizeVideo_gen.pth",
        fill_state_dict(load_manifest(reference_dir, "video")),
        "fastai",
        True,
    )
    x = load_array(reference_dir, "input_64x64.npy")
    for name, expected in ((None, "video"), ("stable", "stable")):
        gen = load_generator(path, name=name)
        assert gen.config.name == expected
        with torch.no_grad():
            y = gen(x)
        assert _max_rel(y, load_array(reference_dir, f"out_{expected}_64x64.npy")) <= 1e-4
        del gen


def test_deoldify_critic(reference_dir: Path, tmp_path: Path) -> None:
    state = fill_state_dict(load_manifest(reference_dir, "critic"))
    path = _write(tmp_path / "ColorizeVideo_crit.pth", state, "fastai", False)
    critic = load_critic(path)
    assert critic.config == CriticConfig()
    with torch.no_grad():
        y = critic(load_array(reference_dir, "input_64x64.npy"))
    assert _max_rel(y, load_array(reference_dir, "out_critic_64x64.npy")) <= 1e-4


def test_old_spectral_norm_layout(artistic_state: dict, reference_dir: Path, tmp_path: Path) -> None:
    """torch < 1.0 files: ``weight`` (normalised) instead of ``weight_v`` for every SN layer."""
    old: dict[str, torch.Tensor] = {}
    for key, value in artistic_state.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf == "weight_v" and f"{prefix}.weight_orig" in artistic_state:
            w_orig = artistic_state[f"{prefix}.weight_orig"]
            u = artistic_state[f"{prefix}.weight_u"]
            sigma = torch.dot(u, w_orig.reshape(w_orig.shape[0], -1) @ value)
            old[f"{prefix}.weight"] = w_orig / sigma
        else:
            old[key] = value
    path = _write(tmp_path / "old.pth", old, "bare", False)
    gen = load_generator(path)
    with torch.no_grad():
        y = gen(load_array(reference_dir, "input_80x80.npy"))
    assert _max_rel(y, load_array(reference_dir, "out_artistic_80x80.npy")) <= 1e-4


def test_wrong_preset_name(artistic_state: dict, tmp_path: Path) -> None:
    path = _write(tmp_path / "a.pth", artistic_state, "bare", True)
    with pytest.raises(CheckpointError, match=r"a\.pth' does not fit the 'video' generator"):
        load_generator(path, name="video")
    with pytest.raises(ValueError, match="load_generator: name must be None or one of"):
        load_generator(path, name="tiny")


def test_our_format_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    gen = build_generator("tiny")
    opt = torch.optim.Adam(gen.parameters(), lr=1e-3)
    gen(torch.randn(2, 3, 64, 64)).mean().backward()
    opt.step()
    gen.eval()
    path = tmp_path / "ckpt" / "tiny.pt"
    save_generator(
        path,
        gen,
        optimizer=opt.state_dict(),
        step=7,
        torch_rng=torch.get_rng_state(),
        numpy_rng=np.random.get_state(),
    )
    assert sorted(os.listdir(path.parent)) == ["tiny.pt"]  # no temporary file left behind
    raw = read_checkpoint(path)
    assert raw["format"] == GENERATOR_FORMAT and raw["version"] == 1 and raw["step"] == 7
    assert np.array_equal(raw["numpy_rng"][1], np.random.get_state()[1])
    loaded = load_generator(path, identify=True)
    assert loaded.config == gen.config
    assert loaded.source_sha256 == sha256_file(path)
    for key, value in gen.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = torch.randn(1, 3, 48, 80)
    with torch.no_grad():
        assert torch.equal(loaded(x), gen(x))
    save_generator(path, gen, step=8)  # replaces atomically
    assert read_checkpoint(path)["step"] == 8
    with pytest.raises(CheckpointError, match="holds a 'tiny' architecture, not the 'video' preset"):
        load_generator(path, name="video")


def test_our_format_rename_to_preset(tmp_path: Path) -> None:
    config = dataclasses.replace(preset("tiny"), name="my-run", detach_skips=True)
    path = save_generator(tmp_path / "run.pt", build_generator(config))
    assert load_generator(path).config == config
    renamed = load_generator(path, name="tiny").config
    assert renamed == dataclasses.replace(config, name="tiny")  # training-only detach_skips kept


def test_save_refusals(tmp_path: Path) -> None:
    gen = build_generator("tiny")
    with pytest.raises(ValueError, match=r"save_generator: extra keys \['state_dict'\] are reserved"):
        save_generator(tmp_path / "x.pt", gen, state_dict={})
    with pytest.raises(ValueError, match="save_generator: the model has been through bake_norms"):
        save_generator(tmp_path / "x.pt", bake_norms(gen))
    assert not list(tmp_path.iterdir())


def test_critic_round_trip_and_kind_mismatch(tmp_path: Path) -> None:
    critic = build_critic(CriticConfig(nf=16)).eval()
    path = save_critic(tmp_path / "crit.pt", critic, step=1)
    loaded = load_critic(path)
    assert loaded.config == critic.config
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), critic(x))
    with pytest.raises(
        CheckpointError, match="has format 'vs-colorize/critic', expected 'vs-colorize/generator'"
    ):
        load_generator(path)


def _tiny_file(tmp_path: Path, zipfile: bool) -> Path:
    path = tmp_path / f"good_{zipfile}.pth"
    torch.save(build_generator("tiny").state_dict(), path, _use_new_zipfile_serialization=zipfile)
    return path


@pytest.mark.parametrize("zipfile", [True, False], ids=["zip", "legacy"])
def test_truncated_file(tmp_path: Path, zipfile: bool) -> None:
    good = _tiny_file(tmp_path, zipfile)
    data = good.read_bytes()
    bad = tmp_path / "truncated.pth"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        CheckpointError, match=r"load_generator: '.*truncated\.pth' is not a readable PyTorch checkpoint"
    ):
        load_generator(bad)


def test_random_bytes_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "random.pth"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError, match=r"'.*random\.pth' is not a readable PyTorch checkpoint"):
        load_generator(bad)
    with pytest.raises(CheckpointError, match=r"load_critic: .* is not a readable PyTorch checkpoint"):
        load_critic(bad)
    with pytest.raises(FileNotFoundError, match=r"load_generator: checkpoint file .* does not exist"):
        load_generator(tmp_path / "nope.pth")


def test_foreign_files(tmp_path: Path) -> None:
    import torchvision

    foreign = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), foreign)
    with pytest.raises(CheckpointError, match=r"resnet18\.pth' is not a DeOldify generator state dict"):
        load_generator(foreign)
    with pytest.raises(CheckpointError, match=r"resnet18\.pth' is not a DeOldify critic state dict"):
        load_critic(foreign)
    not_a_dict = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], not_a_dict)
    with pytest.raises(CheckpointError, match="holds a list that is not a state dict"):
        load_generator(not_a_dict)
    unsafe = tmp_path / "unsafe.pth"
    torch.save(argparse.Namespace(model=1), unsafe)
    with pytest.raises(CheckpointError, match="contains objects that are not safe to unpickle"):
        load_generator(unsafe)
    generator_as_critic = _tiny_file(tmp_path, True)
    with pytest.raises(CheckpointError, match="is not a DeOldify critic state dict"):
        load_critic(generator_as_critic)


def test_sr_net_uses_the_same_layout_and_first_sr_files_still_load(tmp_path: Path) -> None:
    from vs_colorize.training.archs.sr import SRConfig, build_sr
    from vs_colorize.training.checkpoint import SR_FORMAT, load_sr, meta_of, save_sr, sr_record

    torch.manual_seed(0)
    net = build_sr(SRConfig(width=8, scale=2)).eval()
    path = save_sr(tmp_path / "sr.pt", net, crappify={"scale": 2}, step=4)
    raw = read_checkpoint(path)
    assert (raw["format"], raw["version"], raw["arch_config"]) == (SR_FORMAT, 1, net.config.to_dict())
    assert meta_of(raw) == {"crappify": {"scale": 2}, "step": 4}
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(load_sr(path)(x), net(x))
    with pytest.raises(
        CheckpointError, match="has format 'vs-colorize/sr', expected 'vs-colorize/generator'"
    ):
        load_generator(path)

    # the first SR layout ("version" held the package version there)
    legacy = tmp_path / "legacy.pt"
    blob = {
        "format": "vs-colorize-sr/1",
        "version": "0.1.0",
        "model": net.config.to_dict(),
        "crappify": {"scale": 2},
        "train_state": {"steps": 4, "seconds": 1.5},
        "state_dict": net.state_dict(),
    }
    torch.save(blob, legacy)
    with torch.no_grad():
        assert torch.equal(load_sr(legacy)(x), net(x))
    record = sr_record(read_checkpoint(legacy), "test")
    assert record["package_version"] == "0.1.0"
    assert meta_of(record) == {"crappify": {"scale": 2}, "step": 4, "seconds": 1.5}
