"""GPU runtime options (torch.compile, CUDA graphs, NHWC): exact or cleanly refused/ignored on the CPU path;
the CUDA paths themselves carry the ``gpu`` marker and skip where no GPU is visible."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import onnx_models as om
import pytest
import torch
import vapoursynth as vs

from vs_colorize import colorize
from vs_colorize.backends import ORT, Torch

DEMO = Path(__file__).resolve().parents[1] / "vs_colorize" / "assets" / "demo-fp32.onnx"


def frames(clip: vs.VideoNode) -> list[np.ndarray]:
    return [np.stack([np.asarray(f[p]) for p in range(3)]) for f in clip.frames()]


@pytest.fixture(scope="module")
def conv_pt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small convolutional net (3×3 conv, ReLU, 1×1 conv, sigmoid) as a dynamic-batch ``.pt2`` artifact."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 3, 1), torch.nn.Sigmoid()
    ).eval()
    dims = {0: torch.export.Dim("batch", min=1, max=64), 2: torch.export.Dim("h", min=16, max=2048)}
    dims[3] = torch.export.Dim("w", min=16, max=2048)
    program = torch.export.export(net, (torch.rand(2, 3, 64, 64),), dynamic_shapes={"input": dims})
    path = tmp_path_factory.mktemp("pt2") / "conv.pt2"
    torch.export.save(program, str(path))
    path.with_name("conv.pt2.json").write_text(json.dumps(om.colorize_info(arch="conv").to_props()))
    return path


def test_torch_batches_on_cpu_match_batch_1(conv_pt2: Path) -> None:
    clip = om.noise_clip(vs.RGB24, 64, 48, length=5)
    ref = frames(colorize(clip, conv_pt2, render_factor=4, backend=Torch(device="cpu")))
    batched = frames(colorize(clip, conv_pt2, render_factor=4, backend=Torch(device="cpu", batch_size=3)))
    assert all(np.array_equal(a, b) for a, b in zip(ref, batched, strict=True))


@pytest.mark.slow
def test_torch_compile_on_cpu_matches_eager(conv_pt2: Path) -> None:
    """``compile=True`` (Inductor, one C++ build: about a minute on a busy 2-core machine) at batch 2."""
    clip = om.noise_clip(vs.RGB24, 64, 48, length=3)
    ref = frames(colorize(clip, conv_pt2, render_factor=4, backend=Torch(device="cpu")))
    out = colorize(clip, conv_pt2, render_factor=4, backend=Torch(device="cpu", compile=True, batch_size=2))
    assert out.get_frame(0).props["VSColorizeBackend"] == "Torch[cpu/fp32/compiled], batch 2"
    compiled = frames(out)
    assert max(float(np.abs(a - b).max()) for a, b in zip(ref, compiled, strict=True)) <= 1e-6


@pytest.mark.absent("cuda")  # the fall-back is for machines without a GPU
def test_cuda_graph_options_on_cpu_are_refused_or_ignored(
    conv_pt2: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Asked for explicitly on the CPU: refused at construction. Through ``auto`` that lands on the CPU: a
    warning names what is ignored, and the output is the plain CPU output."""
    with pytest.raises(vs.Error, match="Torch: cuda_graphs needs a CUDA device, got device='cpu'"):
        Torch(device="cpu", cuda_graphs=True)
    for option in ("cuda_graph", "prefer_nhwc"):
        with pytest.raises(
            vs.Error, match=f"ORT: {option} needs provider 'cuda' or 'tensorrt', got provider='cpu'"
        ):
            ORT(provider="cpu", **{option: True})
    clip = om.noise_clip(vs.RGB24, 64, 48, length=2)
    with caplog.at_level(logging.WARNING, logger="vs_colorize"):
        torch_out = colorize(clip, conv_pt2, render_factor=4, backend=Torch(device="auto", cuda_graphs=True))
        ort_out = colorize(clip, DEMO, render_factor=4, backend=ORT(cuda_graph=True, prefer_nhwc=True))
        got = frames(torch_out), frames(ort_out)
    assert "Torch: cuda_graphs ignored: device 'auto' resolved to the CPU" in caplog.text
    assert "ORT: cuda_graph and prefer_nhwc ignored: the session runs on CPUExecutionProvider" in caplog.text
    assert torch_out.get_frame(0).props["VSColorizeBackend"] == "Torch[cpu/fp32]"
    want = (
        frames(colorize(clip, conv_pt2, render_factor=4, backend=Torch(device="cpu"))),
        frames(colorize(clip, DEMO, render_factor=4, backend=ORT(provider="cpu"))),
    )
    for mine, plain in zip(got, want, strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(mine, plain, strict=True))


@pytest.mark.gpu
def test_torch_cuda_graphs_match_eager_on_gpu(conv_pt2: Path) -> None:
    clip = om.noise_clip(vs.RGB24, 64, 48, length=5)
    eager = frames(
        colorize(clip, conv_pt2, render_factor=4, backend=Torch(device="cuda", fp16=False, batch_size=2))
    )
    graphs = Torch(device="cuda", fp16=False, batch_size=2, cuda_graphs=True)
    replayed = frames(colorize(clip, conv_pt2, render_factor=4, backend=graphs))
    assert max(float(np.abs(a - b).max()) for a, b in zip(eager, replayed, strict=True)) <= 1e-5


@pytest.mark.gpu
def test_ort_cuda_graph_and_nhwc_match_plain_cuda() -> None:
    clip = om.noise_clip(vs.RGB24, 64, 48, length=5)
    plain = frames(colorize(clip, DEMO, render_factor=4, backend=ORT(provider="cuda", batch_size=2)))
    opts = ORT(provider="cuda", batch_size=2, cuda_graph=True, prefer_nhwc=True)
    tuned = frames(colorize(clip, DEMO, render_factor=4, backend=opts))
    assert max(float(np.abs(a - b).max()) for a, b in zip(plain, tuned, strict=True)) <= 1e-4
