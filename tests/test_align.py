"""Tensor-core channel alignment at export: the zero-padded merge computes the same function, its MAC cost."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from test_export_onnx import filled_tiny

from vs_colorize.export.align import align_channels, padding_cost
from vs_colorize.export.cli import main
from vs_colorize.export.errors import ExportError
from vs_colorize.export.kinds import kind_spec
from vs_colorize.export.prepare import prepare
from vs_colorize.training.archs import build_generator
from vs_colorize.training.archs.config import PRESETS
from vs_colorize.training.checkpoint import save_generator


def merge_channels(module: torch.nn.Module) -> list[int]:
    g = next(m for m in module.modules() if type(m).__name__ == "UnetGenerator")
    res = g.layers[10]
    return [res.layers[0][0].in_channels, res.layers[1][0].out_channels, g.layers[11][0].in_channels]


def compare(gen: torch.nn.Module, size: tuple[int, int], multiple: int = 8) -> tuple[float, torch.nn.Module]:
    spec = kind_spec("colorize", "test", gen)
    plain, aligned = prepare(gen, spec), prepare(gen, spec, align=multiple)
    x = spec.example(2, *size)
    with torch.no_grad():
        diff = float((plain(x) - aligned(x)).abs().max())
    return diff, aligned


@pytest.fixture(scope="module")
def tiny() -> torch.nn.Module:
    torch.set_num_threads(1)
    return filled_tiny()


def test_tiny_aligned_equals_plain(tiny: torch.nn.Module) -> None:
    diff, aligned = compare(tiny, (64, 96))
    assert merge_channels(aligned) == [32, 32, 32]  # 24 decoder + 3 input channels → 27 → 32
    assert diff <= 1e-6
    assert merge_channels(tiny) == [27, 27, 27]  # the caller's model is untouched


def test_video_sized_stage_aligned_equals_plain_and_costs_its_padding() -> None:
    """The ``video`` decoder (259-channel merge) on a narrow encoder, to stay fast; the full-resolution stage is
    the one of the real preset. The MAC increase is exactly that of the padded 3×3 and 1×1 convolutions."""
    torch.manual_seed(0)
    cfg = dataclasses.replace(PRESETS["video"], name="video-stage", encoder="resnet18", encoder_width=16)
    gen = build_generator(cfg).eval()
    diff, aligned = compare(gen, (32, 32))
    assert merge_channels(aligned) == [264, 264, 264] and diff <= 1e-6
    spec = kind_spec("colorize", "test", gen)
    x = spec.example(1, 32, 32)
    cost = padding_cost(prepare(gen, spec), aligned, x)
    assert cost.aligned_macs - cost.macs == 32 * 32 * (2 * 9 * (264**2 - 259**2) + 3 * (264 - 259))
    assert "GMAC per 32x32 frame" in cost.describe() and cost.extra > 0


def test_aligned_multiple_is_a_noop(tiny: torch.nn.Module) -> None:
    baked = prepare(tiny, kind_spec("colorize", "test", tiny))
    (report,) = align_channels(baked, 1)
    assert not report.padded and merge_channels(baked) == [27, 27, 27]


def test_bad_alignment_requests() -> None:
    with pytest.raises(ExportError, match=r"align_channels: multiple must be an int in 1\.\.128, got 0"):
        align_channels(torch.nn.Conv2d(3, 3, 1), 0)
    with pytest.raises(ExportError, match="align_channels: model has no UnetGenerator"):
        align_channels(torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1)), 8)


def test_cli_exports_an_aligned_onnx(tiny: torch.nn.Module, tmp_path: Path) -> None:
    """``vs-colorize-export onnx --align-channels 8``: the graph holds the padded convolutions and ONNX Runtime
    gives the unpadded torch model's output (within ONNX Runtime's own rounding, 1e-5)."""
    ckpt, out = tmp_path / "tiny.pt", tmp_path / "aligned.onnx"
    save_generator(ckpt, tiny)
    args = ["-q", "onnx", "--checkpoint", str(ckpt), "--render-size", "64", "--no-check"]
    assert main([*args, "--out", str(out), "--align-channels", "8"]) == 0
    shapes = {tuple(t.dims) for t in onnx.load(out).graph.initializer}
    assert (32, 32, 3, 3) in shapes and (3, 32, 1, 1) in shapes and (27, 27, 3, 3) not in shapes
    spec = kind_spec("colorize", "test", tiny)
    x = spec.example(1, 64, 64)
    with torch.no_grad():
        want = prepare(tiny, spec)(x).numpy()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert np.abs(session.run(None, {"input": x.numpy()})[0] - want).max() <= 1e-5
