"""A trained SR checkpoint → superres ONNX (vs_colorize.export.sr) → the superres filter, against torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs

from vs_colorize.core.contract import read_model_info
from vs_colorize.export.errors import ExportError
from vs_colorize.export.kinds import kind_spec
from vs_colorize.export.onnx import to_onnx
from vs_colorize.export.sr import export_checkpoint
from vs_colorize.filters.superres import superres
from vs_colorize.training.archs.sr import SRConfig, build_sr
from vs_colorize.training.checkpoint import load_sr, save_sr
from vs_colorize.training.sr.crappify import SRCrappifyConfig
from vs_colorize.training.sr.evaluate import restore

core = vs.core


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small SR net with random weights, BatchNorm statistics calibrated on random frames (as training would)
    and a non-zero head, saved as a training checkpoint."""
    torch.manual_seed(0)
    net = build_sr(SRConfig(width=8, scale=2)).train()
    with torch.no_grad():
        for _ in range(20):
            net(torch.rand(4, 3, 32, 32))
        for p in net.out.parameters():
            p.normal_(0, 0.05)  # the head starts at zero; make the residual visible
    path = tmp_path_factory.mktemp("sr") / "checkpoint.pt"
    return save_sr(path, net.eval(), crappify=SRCrappifyConfig(scale=2).to_dict(), step=0)


@pytest.fixture(scope="module")
def artifact(checkpoint: Path) -> Path:
    out = checkpoint.with_name("sr.onnx")
    export_checkpoint(checkpoint, out, dynamic=(16, 128), size=32)
    return out


def test_metadata_describes_a_superres_model(artifact: Path, checkpoint: Path) -> None:
    info = read_model_info(artifact)
    assert (info.kind, info.window, info.in_channels, info.out_channels, info.scale) == (
        "superres",
        3,
        3,
        1,
        2,
    )
    assert info.dynamic_range == (16, 128) and info.multiple == 4 and info.arch == "pssr3-x2-w8-d2"
    assert len(info.source_sha256) == 64
    assert artifact.with_name("sr.parity.json").is_file()


def test_filter_with_exported_model_matches_torch(artifact: Path, checkpoint: Path) -> None:
    rng = np.random.default_rng(0)
    movie = rng.random((4, 48, 96), dtype=np.float32)
    blank = core.std.BlankClip(format=vs.GRAYS, width=96, height=48, length=4)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        np.copyto(np.asarray(out[0]), movie[n])
        return out

    clip = blank.std.ModifyFrame(blank, fill)
    out = superres(clip, artifact, backend="ort")
    model = load_sr(checkpoint)
    expected = restore(model, movie)
    got = np.stack([np.asarray(out.get_frame(n)[0]) for n in range(4)])
    assert got.shape == (4, 96, 192)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    # the U-Net sees further than the discarded margin (8 px): tiles stay close to, not equal to, untiled
    tiled = superres(clip, artifact, backend="ort", tile=48, overlap=32)
    diff = np.abs(np.stack([np.asarray(tiled.get_frame(n)[0]) for n in range(4)]) - got)
    assert diff.mean() < 2e-4 and diff.max() < 4e-3  # measured 1.9e-5 / 6e-4; 4e-3 ≈ one 8-bit code


def test_single_frame_model_exports_with_window_one(tmp_path: Path) -> None:
    net = build_sr(SRConfig(window=1, width=8))
    ckpt = save_sr(tmp_path / "c.pt", net.eval(), crappify=SRCrappifyConfig().to_dict())
    info = export_checkpoint(ckpt, tmp_path / "s.onnx", dynamic=None, size=16)
    assert (info.window, info.in_channels, info.scale, info.static_size) == (1, 1, 4, (16, 16))
    clip = core.std.BlankClip(format=vs.GRAY8, width=20, height=12, length=2, color=100)
    out = superres(clip, tmp_path / "s.onnx", backend="ort")
    assert (out.width, out.height) == (80, 48)
    assert np.all(np.asarray(out.get_frame(1)[0]) == 100)  # flat input, zero head: bicubic of a flat frame


def test_superres_kind_needs_an_sr_network() -> None:
    with pytest.raises(ExportError, match="to_onnx: kind 'superres' needs"):
        kind_spec("superres", "to_onnx", torch.nn.Identity())


def test_normalised_model_in_the_filter_matches_the_evaluation_path(tmp_path: Path) -> None:
    # the percentiles in the ONNX metadata → the filter: the same numbers as vs_colorize.training.sr.evaluate.restore
    torch.manual_seed(1)
    net = build_sr(SRConfig(width=8, scale=2, clamp=False)).eval()
    with torch.no_grad():
        net.out.bias.fill_(
            0.3
        )  # output = bicubic + 0.3 in normalised units: + 0.3·(hi − lo) after mapping back
    info = to_onnx(
        net, tmp_path / "n.onnx", render_size=16, dynamic=(16, 64), kind="superres", percentiles=(1.0, 99.0)
    )
    assert info.percentiles == (1.0, 99.0) and read_model_info(tmp_path / "n.onnx").percentiles == (1.0, 99.0)
    movie = (np.random.default_rng(1).random((3, 16, 32), dtype=np.float32) * 0.2 + 0.05).astype(np.float32)
    blank = core.std.BlankClip(format=vs.GRAYS, width=32, height=16, length=3)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        np.copyto(np.asarray(out[0]), movie[n])
        return out

    out = superres(blank.std.ModifyFrame(blank, fill), tmp_path / "n.onnx", backend="ort")
    got = np.stack([np.asarray(out.get_frame(n)[0]) for n in range(3)])
    expected = restore(net, movie, percentiles=(1.0, 99.0))  # clipped to [0, 1] there
    np.testing.assert_allclose(np.clip(got, 0, 1), expected, atol=1e-4)
    assert (
        abs(float(got.mean()) - float(movie.mean()) - 0.3 * 0.2) < 0.02
    )  # the input's range, + 0.3·(hi − lo)
