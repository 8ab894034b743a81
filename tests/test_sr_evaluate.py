"""SR metrics and the evaluation command (table, JSON, figure) on a small held-out movie."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from vs_colorize.training.archs.sr import SRConfig, build_sr
from vs_colorize.training.checkpoint import save_sr
from vs_colorize.training.sr.crappify import SRCrappifyConfig
from vs_colorize.training.sr.evaluate import distinct_frames, evaluate, windows
from vs_colorize.training.sr.metrics import flicker, psnr, ssim


def test_metrics_on_known_cases() -> None:
    x = np.random.default_rng(0).random((32, 32))
    assert psnr(x, x) == float("inf")
    assert psnr(np.full((8, 8), 0.6), np.full((8, 8), 0.5)) == pytest.approx(20.0)
    assert ssim(x, x) == pytest.approx(1.0)
    assert ssim(x, np.random.default_rng(1).random((32, 32))) < 0.2
    movie = np.stack([np.full((4, 4), v) for v in (0.2, 0.5, 0.2, 0.5)])
    assert flicker(movie) == pytest.approx(0.3)
    assert flicker(np.zeros((3, 4, 4))) == 0


def test_windows_replicate_the_ends() -> None:
    lr = np.arange(4, dtype=np.float32)[:, None, None] * np.ones((1, 2, 2), np.float32)
    w = windows(lr, 3)
    assert w.shape == (4, 3, 2, 2)
    np.testing.assert_array_equal(w[:, :, 0, 0], [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 3]])


def test_evaluate_writes_table_json_and_figure(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    movie = (rng.random((5, 40, 56)) * 0.5 + np.linspace(0, 0.4, 56)).astype(np.float32)
    tifffile.imwrite(tmp_path / "held.tif", movie, photometric="minisblack")
    ckpts = []
    for window in (3, 1):
        torch.manual_seed(window)
        net = build_sr(SRConfig(window=window, width=8, scale=2)).eval()  # untrained: exactly bicubic
        ckpts.append(save_sr(tmp_path / f"w{window}.pt", net, crappify=SRCrappifyConfig(scale=2).to_dict()))
    results = evaluate([tmp_path / "held.tif"], multi=ckpts[0], single=ckpts[1], out=tmp_path / "eval")
    table = results["sequences"]["held.tif"]
    assert list(table) == ["bicubic", "single-frame", "multi-frame"]
    for name in ("single-frame", "multi-frame"):  # an untrained net is bicubic, so the scores coincide
        for key in ("psnr", "ssim", "flicker"):
            assert table[name][key] == pytest.approx(table["bicubic"][key], rel=1e-5)
    assert 10 < table["bicubic"]["psnr"] < 40 and table["bicubic"]["flicker_target"] > 0
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert saved["sequences"]["held.tif"]["bicubic"]["psnr"] == pytest.approx(table["bicubic"]["psnr"])
    assert "| multi-frame |" in (tmp_path / "eval" / "metrics.md").read_text()
    from PIL import Image

    with Image.open(tmp_path / "eval" / "figure.png") as fig:
        assert fig.size == (4 * 56, 2 * 40 + 14)  # 4 panels (3 methods + target), frame + error rows


def test_frames_that_repeat_the_one_before_are_dropped(tmp_path: Path) -> None:
    """A bit-identical copy of the previous frame is no new acquisition (the CellProfiler sequences repeat every
    third frame): evaluation drops it and says so, unless keep_duplicates."""
    rng = np.random.default_rng(3)
    frames = (rng.random((5, 16, 16)) * 0.5 + 0.2).astype(np.float32)
    movie = frames[[0, 1, 2, 2, 3, 4, 4, 1]]  # copies at 3 and 6; frame 7 equals frame 1 but not frame 6
    assert distinct_frames(movie) == [0, 1, 2, 4, 5, 7]
    tifffile.imwrite(tmp_path / "held.tif", movie, photometric="minisblack")
    torch.manual_seed(0)
    net = build_sr(SRConfig(window=3, width=8, scale=2)).eval()
    ckpt = save_sr(tmp_path / "w3.pt", net, crappify=SRCrappifyConfig(scale=2).to_dict())
    dropped = evaluate([tmp_path / "held.tif"], multi=ckpt, out=tmp_path / "a", clean=True)
    kept = evaluate([tmp_path / "held.tif"], multi=ckpt, out=tmp_path / "b", clean=True, keep_duplicates=True)
    assert dropped["duplicates"] == {"held.tif": [3, 6]} and kept["duplicates"] == {}
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["duplicates"] == {"held.tif": [3, 6]}
    target = {
        r: t["sequences"]["held.tif"]["bicubic"]["flicker_target"] for r, t in (("d", dropped), ("k", kept))
    }
    assert target["d"] == pytest.approx(flicker(movie[[0, 1, 2, 4, 5, 7]]))
    assert target["k"] == pytest.approx(flicker(movie))
