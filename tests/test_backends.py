"""Backends: ORT sessions and provider checks, the generic apply helper, vs-mlrt, torch .pt2, TensorRT."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx_models as om
import pytest
import vapoursynth as vs

from vs_colorize import colorize
from vs_colorize.backends import (
    MLRT,
    ORT,
    TRT,
    Torch,
    autoselect,
    cpu_layout,
    cuda_device_count,
    get_backend,
)
from vs_colorize.backends.ort import import_onnxruntime, installed_ort_distributions, probe_model
from vs_colorize.core.contract import read_model_info

core = vs.core
ROOT = Path(__file__).resolve().parents[1]


def test_mlrt_labels_and_workspace() -> None:
    assert MLRT(plugin="trt", device_id=1, fp16=True).label == "vs-mlrt trt[GPU1/fp16]"
    assert MLRT(plugin="ov", device="GPU").label == "vs-mlrt ov[GPU]"
    assert MLRT(plugin="trt", workspace_gib=0.5).workspace_gib == 0.5  # fractional GiB, as TRT takes
    with pytest.raises(vs.Error, match=r"MLRT: workspace_gib must be in \[0.125, 1024\]"):
        MLRT(plugin="trt", workspace_gib=0)


@pytest.fixture(scope="module")
def tint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return om.tint(tmp_path_factory.mktemp("m") / "tint.onnx")


@pytest.fixture(scope="module")
def luma(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return om.luma_tint(tmp_path_factory.mktemp("m") / "luma.onnx")


def render(clip: vs.VideoNode, model: Path, backend: object, **kw: object) -> list[np.ndarray]:
    out = colorize(clip, model, render_factor=4, backend=backend, **kw)  # type: ignore[arg-type]
    return [np.stack([np.asarray(f[p]) for p in range(3)]) for f in out.frames()]


def test_import_loads_no_runtime() -> None:
    """``import vs_colorize`` (and its backends package) pulls in vapoursynth and numpy only."""
    code = (
        "import sys, vs_colorize, vs_colorize.backends; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'onnxruntime', 'torch', 'tensorrt', 'onnx'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_get_backend_names() -> None:
    assert isinstance(get_backend("ort", func="f"), ORT)
    assert isinstance(get_backend("MLRT", func="f"), MLRT)
    assert isinstance(get_backend("torch", func="f"), Torch)
    assert isinstance(get_backend("trt", func="f"), TRT)
    mine = ORT(intra_op_threads=2)
    assert get_backend(mine, func="f") is mine


def test_get_backend_overrides() -> None:
    """The user's settings (the CLI's --streams) replace those of the chosen backend, checked like arguments."""
    assert get_backend("ort", func="f", num_streams=3) == ORT(num_streams=3)
    mine = ORT(intra_op_threads=2)
    assert get_backend(mine, func="f", num_streams=2) == ORT(intra_op_threads=2, num_streams=2)
    chosen = get_backend(None, func="f", num_streams=3)
    assert chosen.num_streams == 3 and chosen == dataclasses.replace(autoselect(), num_streams=3)
    with pytest.raises(vs.Error, match=r"f: backend ORT has no setting 'bogus'"):
        get_backend("ort", func="f", bogus=1)
    with pytest.raises(vs.Error, match=r"ORT: num_streams must be 1\.\.64, got 0"):
        get_backend("ort", func="f", num_streams=0)


def test_autoselect_here() -> None:
    """The documented preference order, checked against what this machine really has."""
    import onnxruntime
    import torch

    chosen = autoselect()
    gpus = cuda_device_count()
    assert gpus == torch.cuda.device_count()
    ort_gpu = {"CUDAExecutionProvider", "TensorrtExecutionProvider"} & set(
        onnxruntime.get_available_providers()
    )
    if gpus == 0:
        assert chosen == ORT(provider="cpu", **cpu_layout())
    elif importlib.util.find_spec("tensorrt") is not None:
        assert chosen == TRT()
    elif ort_gpu:
        assert isinstance(chosen, ORT) and chosen.provider in ("tensorrt", "cuda")
    elif hasattr(core, "trt"):
        assert chosen == MLRT(plugin="trt")
    else:  # a GPU but no runtime for it installed: the CPU
        assert chosen == ORT(provider="cpu", **cpu_layout())
    pt2 = autoselect(model_format="pt2")
    assert isinstance(pt2, Torch)


def test_cpu_layout_uses_every_core_in_at_most_two_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    for cores, threads, expected in [(1, 8, (1, 1)), (2, 8, (2, 1)), (16, 8, (2, 8)), (16, 1, (1, 16))]:
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid, n=cores: set(range(n)))
        monkeypatch.setattr(vs.core, "num_threads", threads)
        layout = cpu_layout()
        assert (layout["num_streams"], layout["intra_op_threads"]) == expected


def test_ort_session_reports_real_provider(tint: Path) -> None:
    session = ORT(provider="cpu", intra_op_threads=2).open(tint, read_model_info(tint), (1, 3, 32, 48))
    assert session.description == "ORT[CPUExecutionProvider]"
    x = np.full((1, 3, 32, 48), 0.5, np.float32)
    np.testing.assert_allclose(
        session(x)[0, :, 0, 0], om.tint_expected(np.array(0.5), (1.0, 0.6, 0.3), (0.1, 0.05, 0.0))
    )


def test_probe_model_runs() -> None:
    ort = import_onnxruntime()
    session = ort.InferenceSession(probe_model(), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"x": np.array([3.5], np.float32)})
    assert y.tolist() == [3.5]


@pytest.mark.absent("ort-cuda")
def test_ort_gpu_provider_missing_from_build(tint: Path) -> None:
    clip = core.std.BlankClip(format=vs.GRAY8, width=64, height=64, length=1)
    with pytest.raises(vs.Error, match=r"ORT: provider='cuda' is not in this onnxruntime build"):
        colorize(clip, tint, render_factor=4, backend=ORT(provider="cuda"))


def test_two_onnxruntime_distributions_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second onnxruntime distribution in the environment (real dist-info metadata) is refused with the fix."""
    dist = tmp_path / "onnxruntime_gpu-1.31.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: onnxruntime-gpu\nVersion: 1.31.1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert installed_ort_distributions() == ["onnxruntime", "onnxruntime-gpu"]
    with pytest.raises(
        vs.Error,
        match=r"several ONNX Runtime distributions are installed .*pip uninstall -y onnxruntime onnxruntime-gpu",
    ):
        import_onnxruntime("ORT")


def test_apply_is_generic_over_model_kind(tmp_path: Path) -> None:
    """The superres shape: three GRAY clips stacked as channels in, one GRAY channel at 2x out."""
    sr = om.superres(tmp_path / "sr.onnx", scale=2)
    frames = [
        core.std.BlankClip(format=vs.GRAYS, width=40, height=24, length=2, color=[v]) for v in (0.1, 0.4, 0.7)
    ]
    for streams in (1, 2):
        out, label = ORT(num_streams=streams).apply(
            frames, sr, read_model_info(sr), width=80, height=48, func="superres"
        )
        assert (out.format.id, out.width, out.height, label) == (
            vs.GRAYS,
            80,
            48,
            "ORT[CPUExecutionProvider]",
        )
        np.testing.assert_allclose(np.asarray(out.get_frame(1)[0]), 0.4, atol=1e-6)


def test_tile_plans_follow_the_model(tmp_path: Path) -> None:
    """Frames the model takes go as they are; others are padded, tiled automatically or in the asked tiles,
    and every model call of a job gets one shape."""
    from vs_colorize.backends import Job
    from vs_colorize.backends.tiles import TilePlan, plan_tiles

    dyn = om.colorize_info(dynamic_range=(8, 48), multiple=8)
    assert plan_tiles(dyn, 32, 40, tile=None, overlap=None, func="f") is None
    padded = plan_tiles(dyn, 20, 30, tile=None, overlap=None, func="f")
    assert padded == TilePlan(None, 32, 1, 8, 8) and padded.model_size(20, 30) == (24, 32)
    assert plan_tiles(dyn, 100, 150, tile=None, overlap=None, func="f") == TilePlan((48, 48), 24, 1, 8, 8)
    asked = plan_tiles(dyn, 32, 40, tile=(16, 24), overlap=4, func="f")
    assert asked == TilePlan((16, 24), 4, 1, 8, 8) and asked.model_size(32, 40) == (16, 24)
    static = om.colorize_info(static_size=(32, 48))
    assert plan_tiles(static, 32, 48, tile=None, overlap=None, func="f") is None
    assert plan_tiles(static, 50, 60, tile=None, overlap=None, func="f") == TilePlan((32, 48), 16, 1, 16, 1)
    with pytest.raises(vs.Error, match=r"f: tile must be None or the model's static size \(32, 48\)"):
        plan_tiles(static, 50, 60, tile=32, overlap=None, func="f")
    clips = tuple(core.std.BlankClip(format=vs.GRAYS, width=30, height=20) for _ in range(3))
    job = Job(clips, tmp_path / "m.onnx", dyn, 30, 20, "f", padded)
    assert job.input_shape() == (1, 3, 24, 32)
    assert dataclasses.replace(job, tiles=None).input_shape() == (1, 3, 20, 30)


@pytest.mark.mlrt
@pytest.mark.parametrize("plugin", [pytest.param(p, marks=pytest.mark.mlrt(p)) for p in ("ort", "ov")])
def test_mlrt_matches_ort(luma: Path, plugin: str, capfd: pytest.CaptureFixture[str]) -> None:
    clip = om.noise_clip(vs.YUV444PS, 96, 64, length=3)
    ours = render(clip, luma, ORT())
    theirs = render(clip, luma, MLRT(plugin=plugin))
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a[0], b[0])  # luma is the source's either way
        np.testing.assert_allclose(a[1:], b[1:], atol=1e-5)
    prop = (
        colorize(clip, luma, render_factor=4, backend=MLRT(plugin=plugin))
        .get_frame(0)
        .props["VSColorizeBackend"]
    )
    assert prop == f"vs-mlrt {plugin}[CPU]"
    assert capfd.readouterr().out == ""


@pytest.mark.mlrt("ort")
def test_mlrt_nan_raises(tmp_path: Path) -> None:
    clip = core.std.BlankClip(format=vs.YUV420P8, width=64, height=64, length=1)
    out = colorize(clip, om.nan(tmp_path / "nan.onnx"), render_factor=4, backend=MLRT(plugin="ort"))
    with pytest.raises(vs.Error, match=r"colorize: vs-mlrt ort\[CPU\] produced NaN/Inf on frame 0"):
        out.get_frame(0)


@pytest.mark.absent("mlrt-trt")
def test_mlrt_plugin_missing(tint: Path) -> None:
    clip = core.std.BlankClip(format=vs.YUV420P8, width=64, height=64, length=1)
    with pytest.raises(
        vs.Error, match=r"colorize: backend MLRT\(plugin='trt'\) needs the vs-mlrt plugin core.trt"
    ):
        colorize(clip, tint, render_factor=4, backend=MLRT(plugin="trt"))


@pytest.fixture(scope="module")
def tint_pt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tint model as a torch.export artifact with its metadata sidecar."""
    import torch

    class Tint(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("s", torch.tensor([1.0, 0.6, 0.3]).view(1, 3, 1, 1))
            self.register_buffer("b", torch.tensor([0.1, 0.05, 0.0]).view(1, 3, 1, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.clamp(x * self.s + self.b, 0.0, 1.0)

    side = torch.export.Dim("side", min=16, max=2048)
    program = torch.export.export(
        Tint(), (torch.rand(1, 3, 64, 64),), dynamic_shapes={"x": {2: side, 3: side}}
    )
    path = tmp_path_factory.mktemp("pt2") / "tint.pt2"
    torch.export.save(program, str(path))
    path.with_name("tint.pt2.json").write_text(json.dumps(om.colorize_info(arch="tint-torch").to_props()))
    return path


def test_torch_pt2_matches_ort(tint: Path, tint_pt2: Path) -> None:
    clip = om.noise_clip(vs.YUV444PS, 96, 64, length=2)
    ours = render(clip, tint, ORT())
    for backend in (Torch(device="cpu"), Torch(device="cpu", num_streams=2, channels_last=False), None):
        theirs = render(clip, tint_pt2, backend)
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)
    label = colorize(clip, tint_pt2, render_factor=4).get_frame(0).props["VSColorizeBackend"]
    assert label == "Torch[cpu/fp32]"


def test_torch_refuses_onnx(tint: Path) -> None:
    clip = core.std.BlankClip(format=vs.YUV420P8, width=64, height=64, length=1)
    with pytest.raises(
        vs.Error, match=r"is a onnx artifact, which this backend cannot load \(it loads pt2\)"
    ):
        colorize(clip, tint, render_factor=4, backend=Torch(device="cpu"))


@pytest.mark.gpu
def test_torch_cuda_fp16(tint: Path, tint_pt2: Path) -> None:
    clip = om.noise_clip(vs.YUV444PS, 96, 64, length=2)
    ours = render(clip, tint, ORT())
    theirs = render(clip, tint_pt2, Torch(device="cuda"))
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, atol=2e-3)


@pytest.mark.absent("tensorrt")
def test_trt_without_tensorrt_is_a_clear_error(tint: Path) -> None:
    clip = core.std.BlankClip(format=vs.YUV420P8, width=64, height=64, length=1)
    with pytest.raises(vs.Error, match=r"TRT: cannot run '.*tint.onnx': TensorRT is not installed"):
        colorize(clip, tint, render_factor=4, backend=TRT())


@pytest.mark.trt
@pytest.mark.gpu
def test_trt_matches_ort(tint: Path) -> None:
    clip = om.noise_clip(vs.YUV444PS, 96, 64, length=2)
    ours = render(clip, tint, ORT())
    for backend in (TRT(fp16=False), TRT(fp16=True, num_streams=2)):
        theirs = render(clip, tint, backend)
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(a, b, atol=2e-3)
