"""The torch runtime artifact: torch.export programs (.pt2) with a metadata sidecar."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_export_onnx import expected_rgb, filled_tiny

from vs_colorize.core.contract import ModelInfo
from vs_colorize.export.errors import ExportError
from vs_colorize.export.parity import verify
from vs_colorize.export.pt2 import sidecar_path, to_pt2


@pytest.fixture(scope="module")
def tiny() -> torch.nn.Module:
    torch.set_num_threads(1)
    return filled_tiny()


def test_dynamic_pt2_reloads_and_matches_torch(tiny, tmp_path):
    out = tmp_path / "tiny.pt2"
    info = to_pt2(tiny, out, dynamic=(64, 128), source_sha256="cd" * 32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.pt2", "tiny.pt2.json", "tiny.pt2.parity.json"]
    props = json.loads(sidecar_path(out).read_text())
    assert ModelInfo.from_props(props) == info
    assert (info.kind, info.arch, info.dynamic_range, info.source_sha256) == (
        "colorize",
        "tiny",
        (64, 128),
        "cd" * 32,
    )

    module = torch.export.load(str(out)).module()  # what the runtime does: no training import needed
    rng = np.random.default_rng(4)
    for shape in [(1, 3, 64, 64), (2, 3, 80, 112)]:
        x = rng.random(shape, dtype=np.float32)
        with torch.no_grad():
            got = module(torch.from_numpy(x)).numpy()
        assert np.abs(got - expected_rgb(tiny, x)).max() <= 1e-5, shape
    assert json.loads((tmp_path / "tiny.pt2.parity.json").read_text())["passed"] is True


def test_fp16_pt2_runs_in_half_with_float_io(tiny, tmp_path):
    out = tmp_path / "tiny16.pt2"
    info = to_pt2(tiny, out, render_size=64, fp16=True)
    assert (info.precision, info.static_size) == ("fp16", (64, 64))
    module = torch.export.load(str(out)).module()
    x = np.random.default_rng(5).random((1, 3, 64, 64), dtype=np.float32)
    with torch.no_grad():
        got = module(torch.from_numpy(x))
    assert got.dtype == torch.float32
    err = np.abs(got.numpy() - expected_rgb(tiny, x)).max()
    assert 0 < err <= 1e-2


def test_pt2_refuses_to_overwrite_and_verify_needs_the_sidecar(tiny, tmp_path):
    out = tmp_path / "tiny.pt2"
    to_pt2(tiny, out, render_size=64)
    with pytest.raises(FileExistsError, match=r"to_pt2: .* exists"):
        to_pt2(tiny, out, render_size=64)
    assert verify(out, tiny).passed
    sidecar_path(out).write_text("{not json")
    with pytest.raises(ExportError, match=r"verify: metadata sidecar .* is not readable JSON"):
        verify(out, tiny)
    sidecar_path(out).unlink()
    with pytest.raises(ExportError, match="no metadata sidecar"):
        verify(out, tiny)
    with pytest.raises(ExportError, match="render_size must be a positive multiple of 16, got 65"):
        to_pt2(tiny, tmp_path / "odd.pt2", render_size=65)
