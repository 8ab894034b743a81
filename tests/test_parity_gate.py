"""The parity gate itself: one bad pixel, NaN or Inf anywhere in an artifact's output fails it.

The artifact is a small convolutional network exported to ONNX with one ``Add`` appended to its graph, so the
error is planted at a single output element and ONNX Runtime really runs it. (Small so that the mutation run,
which repeats these tests for every mutant of export/parity.py, stays short.)
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper

from vs_colorize.export.errors import ParityError
from vs_colorize.export.onnx import to_onnx
from vs_colorize.export.parity import ParityReport, SizeResult, verify

SIZE = 64


@pytest.fixture(scope="module")
def tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 1)
    ).eval()


@pytest.fixture(scope="module")
def clean(tiny: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("parity") / "tiny.onnx"
    to_onnx(tiny, out, render_size=SIZE, arch="conv", check=False)  # the tests run verify themselves
    return out


def _plant(clean: Path, dest: Path, value: float) -> Path:
    """``clean`` with ``value`` added to output element [*, 1, 5, 7] only (broadcast over the batch)."""
    model = onnx.load(str(clean))
    (out,) = model.graph.output
    for node in model.graph.node:
        node.output[:] = ["pre_plant" if o == out.name else o for o in node.output]
    delta = np.zeros((1, 3, SIZE, SIZE), np.float32)
    delta[0, 1, 5, 7] = value
    model.graph.initializer.append(numpy_helper.from_array(delta, "plant"))
    model.graph.node.append(helper.make_node("Add", ["pre_plant", "plant"], [out.name]))
    onnx.save(model, str(dest))
    return dest


def test_clean_artifact_passes(tiny: torch.nn.Module, clean: Path, tmp_path: Path) -> None:
    report = verify(clean, tiny, threads=1, report_path=tmp_path / "r.json")
    assert report.passed and report.max_abs <= 1e-4


def test_one_bad_pixel_fails_although_the_mean_error_is_tiny(
    tiny: torch.nn.Module, clean: Path, tmp_path: Path
) -> None:
    bad = _plant(clean, tmp_path / "bad.onnx", 0.5)
    report = verify(bad, tiny, threads=1)
    (result,) = report.results
    assert result.max_abs == pytest.approx(0.5, abs=1e-3)
    assert result.mean_abs < report.tolerance  # 0.5 / (3·64·64): a mean-based gate would pass it
    assert not report.passed
    assert json.loads((tmp_path / "bad.parity.json").read_text())["passed"] is False
    with pytest.raises(ParityError, match=r"verify: fp32 artifact differs .* by 0\.5"):
        verify(bad, tiny, threads=1, raise_on_fail=True)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_output_fails(tiny: torch.nn.Module, clean: Path, tmp_path: Path, value: float) -> None:
    bad = _plant(clean, tmp_path / "bad.onnx", value)
    report = verify(bad, tiny, threads=1)
    assert not report.passed
    saved = json.loads((tmp_path / "bad.parity.json").read_text())  # strict JSON: the error is null
    assert saved["passed"] is False and saved["results"][0]["max_abs"] is None
    with pytest.raises(ParityError):
        verify(bad, tiny, threads=1, raise_on_fail=True)


def test_report_gate_on_results() -> None:
    """Every shape must pass: one failing or non-finite shape among good ones fails the report."""

    def report(*errors: float) -> ParityReport:
        results = [SizeResult((1, 3, 64, 64), e, 0.0) for e in errors]
        return ParityReport("a.onnx", "colorize", "tiny", "fp32", 1e-4, "ort", results)

    assert report(1e-5, 1e-4).passed  # the tolerance itself passes
    assert not report(1e-5, 1.1e-4).passed
    assert not report(1e-5, math.nan).passed and math.isnan(report(1e-5, math.nan).max_abs)
    assert not report(math.inf, 1e-5).passed
