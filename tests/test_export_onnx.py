"""ONNX export of the tiny generator: static, dynamic and fp16 artifacts run in ONNX Runtime with parity."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from deoldify_fill import fill_state_dict

from vs_colorize._version import __version__
from vs_colorize.core.contract import ModelInfo, read_model_info
from vs_colorize.export.errors import ExportError, ParityError
from vs_colorize.export.onnx import to_onnx
from vs_colorize.training.archs import CriticConfig, build_critic, build_generator

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def filled_tiny() -> torch.nn.Module:
    """The tiny generator with every weight set by the reference fill rule (sane activations, unlike a
    fresh random init whose uncalibrated spectral norm overflows float16)."""
    gen = build_generator("tiny")
    manifest = [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in gen.state_dict().items()]
    gen.load_state_dict(fill_state_dict(manifest))
    return gen.eval()


def expected_rgb(gen: torch.nn.Module, x01: np.ndarray) -> np.ndarray:
    """DeOldify's pipeline written out: normalise, generator, de-normalise, clamp to [0,1]."""
    with torch.no_grad():
        y = gen((torch.from_numpy(x01) - MEAN) / STD)
    return torch.clamp(y * STD + MEAN, 0, 1).numpy()


def run_onnx(path, x: np.ndarray) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


@pytest.fixture(scope="module")
def tiny() -> torch.nn.Module:
    torch.set_num_threads(1)
    return filled_tiny()


def test_static_export_matches_torch_and_describes_itself(tiny, tmp_path):
    out = tmp_path / "tiny.onnx"
    info = to_onnx(tiny, out, render_size=64, source_sha256="ab" * 32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.onnx", "tiny.parity.json"]  # no external data
    onnx.checker.check_model(str(out))
    proto = onnx.load(str(out))
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["output"]

    read = read_model_info(out)
    assert read == info
    assert (read.kind, read.arch, read.precision, read.static_size) == ("colorize", "tiny", "fp32", (64, 64))
    assert (read.opset, read.package_version, read.source_sha256) == (18, __version__, "ab" * 32)

    x = np.random.default_rng(1).random((2, 3, 64, 64), dtype=np.float32)
    got = run_onnx(out, x)
    want = expected_rgb(tiny, x)
    assert got.shape == (2, 3, 64, 64)
    assert np.abs(got - want).max() <= 1e-4
    assert got.min() >= 0.0 and got.max() <= 1.0
    assert got.std() > 0.05  # a real picture, not a constant

    report = json.loads((tmp_path / "tiny.parity.json").read_text())
    assert report["passed"] is True and report["precision"] == "fp32" and report["tolerance"] == 1e-4
    assert report["artifact"] == "tiny.onnx" and report["runtime"].startswith("onnxruntime")
    assert [r["shape"] for r in report["results"]] == [[2, 3, 64, 64]]
    assert report["results"][0]["max_abs"] <= 1e-4


@pytest.fixture(scope="module")
def dynamic_artifact(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("dyn") / "dyn.onnx"
    info = to_onnx(tiny, out, render_size=96, dynamic=(64, 128))
    return out, info


def test_dynamic_export_runs_at_every_multiple_of_16(tiny, dynamic_artifact):
    out, info = dynamic_artifact
    assert info.dynamic_range == (64, 128) and info.static_size is None
    assert read_model_info(out) == info
    dims = onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim
    assert [d.HasField("dim_param") for d in dims] == [True, False, True, True]  # N, C=3, H, W

    report = json.loads((out.parent / "dyn.parity.json").read_text())
    assert report["passed"] is True
    assert [r["shape"] for r in report["results"]] == [[2, 3, 64, 64], [1, 3, 112, 112], [1, 3, 64, 112]]

    rng = np.random.default_rng(2)
    for shape in [(1, 3, 128, 128), (1, 3, 112, 64), (3, 3, 96, 80)]:  # 80/112: skip resize path
        x = rng.random(shape, dtype=np.float32)
        got = run_onnx(out, x)
        assert np.abs(got - expected_rgb(tiny, x)).max() <= 1e-4, shape


@pytest.mark.mlrt
def test_artifact_runs_unchanged_in_vs_mlrt(dynamic_artifact):
    """DESIGN §2: the same file runs under vs-mlrt's ``core.ort.Model`` on an RGBS clip."""
    import vapoursynth as vs

    out, _ = dynamic_artifact
    core = vs.core
    x = np.random.default_rng(7).random((1, 3, 96, 80), dtype=np.float32)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        fout = f.copy()
        for p in range(3):
            np.copyto(np.asarray(fout[p]), x[0, p])
        return fout

    blank = core.std.BlankClip(format=vs.RGBS, width=80, height=96, length=1)
    clip = core.std.ModifyFrame(blank, blank, fill)
    frame = core.ort.Model(clip, network_path=str(out), provider="CPU").get_frame(0)
    got = np.stack([np.asarray(frame[p]) for p in range(3)])[None]
    assert np.abs(got - run_onnx(out, x)).max() <= 1e-5


def test_fp16_export_keeps_float32_io(tiny, tmp_path):
    out = tmp_path / "tiny16.onnx"
    info = to_onnx(tiny, out, render_size=(64, 96), fp16=True)
    assert (info.precision, info.static_size) == ("fp16", (64, 96))
    proto = onnx.load(str(out))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    weight_types = {t.data_type for t in proto.graph.initializer if len(t.dims) == 4}
    assert weight_types == {onnx.TensorProto.FLOAT16}

    x = np.random.default_rng(3).random((1, 3, 64, 96), dtype=np.float32)
    err = np.abs(run_onnx(out, x) - expected_rgb(tiny, x))
    assert err.max() <= 1e-2
    assert err.max() > 0  # it really is computed in lower precision
    assert json.loads((tmp_path / "tiny16.parity.json").read_text())["tolerance"] == 1e-2


class _ExportBlindBias(torch.nn.Module):
    """A generator that adds a bias in eager mode only, so the exported graph cannot match it."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.inner(x)
        return y if torch.compiler.is_exporting() else y + 0.5


def test_parity_failure_is_loud_and_keeps_no_artifact(tiny, tmp_path):
    out = tmp_path / "bad.onnx"
    with pytest.raises(ParityError, match="differs from the torch model"):
        to_onnx(_ExportBlindBias(tiny), out, render_size=64)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.parity.json"]  # no temporary left either
    report = json.loads((tmp_path / "bad.parity.json").read_text())
    assert report["passed"] is False and report["results"][0]["max_abs"] > 0.05


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"render_size": 100}, "render_size must be a positive multiple of 16, got 100"),
        ({"render_size": 8}, "render_size must be a positive multiple of 16, got 8"),
        ({"render_size": (64, 72)}, "render_size must be a positive multiple of 16, got 72"),
        ({"render_size": 64.0}, "render_size must be an int or (H, W), got 64.0"),
        ({"render_size": (64.0, 64)}, "render_size must be an int, got 64.0"),
        ({"dynamic": (128, 64)}, "dynamic min_side must be <= max_side"),
        ({"dynamic": (64, 130)}, "dynamic max_side must be a positive multiple of 16, got 130"),
        (
            {"kind": "superres"},
            "kind 'superres' needs a vs_colorize.training.archs.sr.SRNet model, got UnetGenerator",
        ),
        ({"kind": "nope"}, "kind must be one of ('colorize', 'superres'), got 'nope'"),
        ({"opset": 11}, "opset must be an int >= 13"),
    ],
)
def test_bad_arguments_are_named(tiny, tmp_path, kwargs, message):
    with pytest.raises(ExportError, match=r"^to_onnx: ") as exc:
        to_onnx(tiny, tmp_path / "x.onnx", **kwargs)
    assert message in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def test_wrong_kind_of_model_is_refused(tmp_path):
    critic = build_critic(CriticConfig(nf=16))  # maps an image to logits, not to an image
    with pytest.raises(ExportError, match=r"to_onnx: model maps \(1, 3, 64, 64\) to .* colorize"):
        to_onnx(critic, tmp_path / "critic.onnx", render_size=64)
    with pytest.raises(ExportError, match=r"model must be a torch\.nn\.Module"):
        to_onnx("not a model", tmp_path / "x.onnx")  # type: ignore[arg-type]


def test_existing_output_needs_overwrite(tiny, tmp_path):
    out = tmp_path / "tiny.onnx"
    out.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        to_onnx(tiny, out, render_size=64)
    assert out.read_bytes() == b"keep me"
    to_onnx(tiny, out, render_size=64, overwrite=True, check=False)
    assert ModelInfo.from_props(onnx_props(out)).static_size == (64, 64)


def onnx_props(path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}
