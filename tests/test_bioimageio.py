"""BioImage Model Zoo packages: written with the spec's own library, validated by it, and reproduced by hand.

The reproduction reads the package as a consumer (deepImageJ, ilastik, …) would: the ``rdf.yaml``'s
preprocessing is applied to the test input, the packaged ONNX runs in ONNX Runtime, and the result must be
the packaged test output.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch
from ruyaml import YAML  # what bioimageio.spec itself reads rdf.yaml with

from vs_colorize.export.bioimageio import package, validate
from vs_colorize.export.cli import main
from vs_colorize.export.errors import ExportError
from vs_colorize.export.onnx import to_onnx
from vs_colorize.training.archs.sr import SRConfig, SRNet


@pytest.fixture(scope="module")
def sr_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    net = SRNet(SRConfig(width=8, depth=1)).eval()
    path = tmp_path_factory.mktemp("sr") / "sr.onnx"
    to_onnx(net, path, render_size=32, dynamic=(16, 128), kind="superres", arch="pssr-test", check=False)
    return path


@pytest.fixture(scope="module")
def sr_norm_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained with percentile normalisation: no output clamp, percentiles in the metadata."""
    torch.manual_seed(1)
    net = SRNet(SRConfig(width=8, depth=1, clamp=False)).eval()
    torch.nn.init.normal_(net.out.weight, std=1e-4)  # not the bicubic identity, so the preprocessing matters
    path = tmp_path_factory.mktemp("srn") / "srn.onnx"
    to_onnx(
        net,
        path,
        render_size=32,
        dynamic=(16, 128),
        kind="superres",
        arch="pssr-n",
        check=False,
        percentiles=(2.0, 99.8),
    )
    return path


def _apply(steps: list[dict], x: np.ndarray) -> np.ndarray:
    """The preprocessing operations the packages use, as the spec defines them (written here independently)."""
    for step in steps:
        kwargs = step["kwargs"]
        if step["id"] == "ensure_dtype":
            x = x.astype(kwargs["dtype"])
        elif step["id"] == "scale_linear":
            x = x * np.float32(kwargs.get("gain", 1.0)) + np.float32(kwargs.get("offset", 0.0))
        elif step["id"] == "scale_range":
            assert sorted(kwargs["axes"]) == ["channel", "x", "y"]  # per sample, all frames together
            lo = np.percentile(x, kwargs["min_percentile"], axis=(1, 2, 3), keepdims=True)
            hi = np.percentile(x, kwargs["max_percentile"], axis=(1, 2, 3), keepdims=True)
            x = ((x - lo) / (hi - lo + kwargs["eps"])).astype(np.float32)
        else:
            raise AssertionError(f"unexpected preprocessing step {step['id']}")
    return x


def _packaged(out: Path, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """Validate the package ``out`` with the spec, unpack it and read its rdf.yaml as a consumer would."""
    assert validate(out) == ""
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(out) as zf:
        zf.extractall(unpacked)
    return unpacked, YAML(typ="safe").load((unpacked / "rdf.yaml").read_text())


@pytest.mark.parametrize("dtype", ["uint16", "uint8", "float32"])
def test_package_validates_and_its_test_tensors_reproduce(sr_onnx: Path, tmp_path: Path, dtype: str) -> None:
    unpacked, rdf = _packaged(package(sr_onnx, tmp_path / "model.zip", input_dtype=dtype), tmp_path)
    (inp,) = rdf["inputs"]
    (outp,) = rdf["outputs"]
    assert inp["data"]["type"] == dtype
    assert [a.get("channel_names") for a in inp["axes"] if a["type"] == "channel"] == [
        ["t_minus_1", "t", "t_plus_1"]
    ]

    raw = np.load(unpacked / inp["test_tensor"]["source"])
    assert raw.dtype == np.dtype(dtype) and raw.shape[:2] == (1, 3)
    x = _apply(inp.get("preprocessing", []), raw)
    assert x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.5  # the model's [0, 1]
    session = ort.InferenceSession(str(unpacked / rdf["weights"]["onnx"]["source"]))
    (y,) = session.run(None, {session.get_inputs()[0].name: x})
    expected = np.load(unpacked / outp["test_tensor"]["source"])
    assert expected.shape == (1, 1, 4 * raw.shape[2], 4 * raw.shape[3])
    np.testing.assert_allclose(y, expected, atol=1e-6)


def test_wrong_models_and_arguments_are_refused(sr_onnx: Path, tmp_path: Path) -> None:
    demo = Path(__file__).resolve().parents[1] / "vs_colorize" / "assets" / "demo-fp32.onnx"
    with pytest.raises(
        ExportError, match=r"bioimageio: model must be a 3-frame superres artifact, got colorize"
    ):
        package(demo, tmp_path / "c.zip")
    with pytest.raises(ExportError, match=r"input_dtype must be one of"):
        package(sr_onnx, tmp_path / "d.zip", input_dtype="int64")
    with pytest.raises(ExportError, match=r"path must end in .zip"):
        package(sr_onnx, tmp_path / "d.tar")
    existing = tmp_path / "e.zip"
    existing.write_bytes(b"keep")
    with pytest.raises(ExportError, match=r"exists; pass overwrite"):
        package(sr_onnx, existing)
    assert existing.read_bytes() == b"keep"


def test_cli_writes_a_package(sr_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pkg.zip"
    assert main(["bioimageio", str(sr_onnx), str(out), "--author", "A. Tester", "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert validate(out) == ""
    assert main(["bioimageio", str(sr_onnx), str(out)]) == 2  # exists
    assert "exists; pass overwrite" in capsys.readouterr().err


def test_normalised_model_declares_the_runtime_percentiles(sr_norm_onnx: Path, tmp_path: Path) -> None:
    unpacked, rdf = _packaged(package(sr_norm_onnx, tmp_path / "norm.zip"), tmp_path)
    (inp,) = rdf["inputs"]
    (outp,) = rdf["outputs"]
    (step,) = [s for s in inp["preprocessing"] if s["id"] == "scale_range"]
    assert (step["kwargs"]["min_percentile"], step["kwargs"]["max_percentile"]) == (2.0, 99.8)
    raw = np.load(unpacked / inp["test_tensor"]["source"])
    x = _apply(inp["preprocessing"], raw)
    assert float(np.percentile(x, 99.8)) == pytest.approx(1.0, abs=1e-4)  # normalised, not the raw [0, 1]
    assert float(np.mean(x > 1)) > 0
    session = ort.InferenceSession(str(unpacked / rdf["weights"]["onnx"]["source"]))
    (y,) = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(y, np.load(unpacked / outp["test_tensor"]["source"]), rtol=1e-4, atol=1e-5)
    assert "99.8th percentiles" in (unpacked / "README.md").read_text()
