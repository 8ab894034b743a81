"""Data: the deterministic split, skipping corrupt/grey files, the datasets and the resumable sampler."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vs_colorize.training.config import DataConfig
from vs_colorize.training.data import (
    ColorizeDataset,
    CriticDataset,
    StepSampler,
    denormalise,
    is_val,
    make_loader,
    scan_images,
    select,
)


@pytest.fixture
def folder(tmp_path: Path, data_dir: Path) -> Path:
    """8 real photos (one in a sub-folder, one as PNG), a truncated JPEG, random bytes, a grey photo, a text file."""
    root = tmp_path / "imgs"
    (root / "sub").mkdir(parents=True)
    photos = sorted((data_dir / "train256").glob("*.jpg"))[:9]
    for p in photos[:6]:
        shutil.copy(p, root / p.name)
    shutil.copy(photos[6], root / "sub" / photos[6].name)
    with Image.open(photos[7]) as im:
        im.convert("RGB").save(root / "as_png.png")
        im.convert("L").convert("RGB").save(root / "grey.jpg", quality=90)
    (root / "truncated.jpg").write_bytes(photos[8].read_bytes()[:600])
    (root / "noise.png").write_bytes(np.random.default_rng(0).bytes(3000))
    (root / "notes.txt").write_text("not an image")
    return root


def test_scan_skips_corrupt_and_grey_with_counts(folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="vs_colorize.training.data"):
        scan = scan_images([folder], val_pct=0.25)
    assert (scan.corrupt, scan.grey) == (2, 1)
    usable = scan.train + scan.val
    assert len(usable) == 8 and len(set(usable)) == 8
    assert not any(Path(p).name in ("grey.jpg", "truncated.jpg", "noise.png") for p in usable)
    assert any("/sub/" in p for p in usable) and any(p.endswith("as_png.png") for p in usable)
    assert "skipped 2 corrupt and 1 grey" in caplog.text


def test_split_is_deterministic_and_by_relative_path(folder: Path, tmp_path: Path) -> None:
    a = scan_images([folder], val_pct=0.25)
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(folder, moved)
    b = scan_images([moved], val_pct=0.25)
    rel = lambda paths, root: sorted(str(Path(p).relative_to(root)) for p in paths)  # noqa: E731
    assert rel(a.train, folder) == rel(b.train, moved) and rel(a.val, folder) == rel(b.val, moved)
    assert scan_images([folder], val_pct=0.25) == a
    assert scan_images([folder], val_pct=0.25, workers=2) == a


def test_split_fraction_follows_val_pct() -> None:
    names = [f"n{i:05d}/img_{i}.JPEG" for i in range(4000)]
    share = sum(is_val(n, 0.1) for n in names) / len(names)
    assert 0.085 < share < 0.115
    assert all(not is_val(n, 0.0) for n in names[:100])


def test_scan_errors_name_the_argument(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scan_images: dirs"):
        scan_images([tmp_path / "missing"], 0.1)
    with pytest.raises(ValueError, match="no usable colour images"):
        scan_images([tmp_path], 0.1)


def test_colorize_dataset_pairs(folder: Path) -> None:
    scan = scan_images([folder], val_pct=0.0)
    ds = ColorizeDataset(scan.train, DataConfig(), size=64)
    x, y = ds[(0, 0, 0, 5)]
    assert x.shape == y.shape == (3, 64, 64)
    grey = denormalise(x)
    assert torch.allclose(grey[0], grey[1], atol=1e-6) and torch.allclose(grey[0], grey[2], atol=1e-6)
    colour = denormalise(y)
    assert (colour[0] - colour[2]).abs().mean() > 0.01  # the target keeps its colour
    x2, y2 = ds[(0, 0, 0, 5)]
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, _ = ds[(0, 1, 0, 5)]
    assert not torch.equal(x, x3)
    val = ColorizeDataset(scan.train, DataConfig(), size=64, train=False)
    assert torch.equal(val[(0, 0, 0, 1)][0], val[(0, 9, 3, 2)][0])  # validation is not random


def test_critic_dataset_labels(folder: Path) -> None:
    scan = scan_images([folder], val_pct=0.0)
    ds = CriticDataset([(scan.train[0], 0.0), (scan.train[1], 1.0)], DataConfig(), size=32)
    img, label = ds[(1, 0, 0, 0)]
    assert img.shape == (3, 32, 32) and float(label) == 1.0


def test_sampler_resumes_where_it_stopped_and_covers_each_epoch() -> None:
    full = list(StepSampler(n=10, batch_size=3, seed=4, total=7))
    assert list(StepSampler(n=10, batch_size=3, seed=4, total=7, start=4)) == full[4:]
    first_epoch = [k[0] for batch in full[:3] for k in batch]
    assert len(set(first_epoch)) == 9  # 3 steps of 3 per epoch, drop_last
    assert {k[1] for k in full[3]} == {1}  # step 3 starts epoch 1


def test_sampler_shards_ranks_disjointly() -> None:
    single = list(StepSampler(n=12, batch_size=4, seed=1, total=3))
    r0 = list(StepSampler(n=12, batch_size=2, seed=1, total=3, rank=0, world=2))
    r1 = list(StepSampler(n=12, batch_size=2, seed=1, total=3, rank=1, world=2))
    for s, a, b in zip(single, r0, r1, strict=True):
        assert a + b == s
    with pytest.raises(ValueError, match="fewer than one global batch"):
        StepSampler(n=3, batch_size=2, seed=0, total=1, world=2)


def test_loader_batches_do_not_depend_on_workers(folder: Path) -> None:
    scan = scan_images([folder], val_pct=0.0)
    ds = ColorizeDataset(scan.train, DataConfig(num_workers=0), size=32)
    serial = list(make_loader(ds, StepSampler(len(ds), 2, 9, total=3), DataConfig(num_workers=0), False))
    parallel = list(make_loader(ds, StepSampler(len(ds), 2, 9, total=3), DataConfig(num_workers=2), False))
    assert len(serial) == len(parallel) == 3
    for (xa, ya), (xb, yb) in zip(serial, parallel, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_select_is_deterministic_fraction() -> None:
    items = [f"/d/{i}.jpg" for i in range(200)]
    a = select(items, 0.085, 0, salt="x")
    assert len(a) == 17 and a == select(list(reversed(items)), 0.085, 0, salt="x")
    assert select(items, 0.085, 5, salt="x") == a[:5]
    assert a != select(items, 0.085, 0, salt="y")
