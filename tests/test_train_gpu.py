"""AMP and channels_last on CUDA (skipped where no GPU is visible; not run on the CPU development machines), and
the one mixed precision the CPU gets: bf16 autocast."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vs_colorize.training.device import Precision

ROOT = Path(__file__).resolve().parents[1]


def test_precision_bf16_on_cpu_and_fp16_declined(caplog: pytest.LogCaptureFixture) -> None:
    prec = Precision(torch.device("cpu"), "bf16", channels_last=True)
    conv = prec.model(torch.nn.Conv2d(3, 8, 3, padding=1))
    x = prec.batch(torch.randn(2, 3, 32, 32))
    assert x.is_contiguous() and not prec.channels_last  # NHWC only on CUDA
    with prec.autocast():
        y = conv(x)
    assert y.dtype == torch.bfloat16
    y.float().square().mean().backward()
    assert conv.weight.grad.dtype == torch.float32 and torch.isfinite(conv.weight.grad).all()
    assert not prec.scaler().is_enabled()

    fp16 = Precision(torch.device("cpu"), "fp16", channels_last=False)
    assert fp16.dtype is None and "amp=fp16 ignored on cpu" in caplog.text
    with fp16.autocast():
        assert conv(x).dtype == torch.float32


@pytest.mark.gpu
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_precision_on_cuda(amp: str) -> None:
    prec = Precision(torch.device("cuda"), amp, channels_last=True)
    conv = prec.model(torch.nn.Conv2d(3, 8, 3, padding=1))
    x = prec.batch(torch.randn(2, 3, 32, 32))
    assert x.is_contiguous(memory_format=torch.channels_last)
    with prec.autocast():
        y = conv(x)
    assert y.dtype == (torch.bfloat16 if amp == "bf16" else torch.float16)
    scaler = prec.scaler()
    scaler.scale(y.float().square().mean()).backward()
    assert conv.weight.grad is not None and torch.isfinite(conv.weight.grad).all()


@pytest.mark.gpu
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_tiny_nogan_on_cuda(amp: str, tmp_path: Path, data_dir: Path) -> None:
    images = tmp_path / "imgs"
    images.mkdir()
    for p in sorted((data_dir / "train256").glob("*.jpg"))[:16]:
        shutil.copy(p, images / p.name)
    run = tmp_path / "run"
    args = ["nogan", "--recipe", "tiny", "--data", str(images), "--out", str(run)]
    args += ["--set", "device=cuda", "--set", f"amp={amp}", "--set", "cycles=1"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "training", *args], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    records = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    losses = [v for r in records if "event" not in r for k, v in r.items() if k.endswith("loss")]
    assert losses and all(v == v and abs(v) < 1e4 for v in losses)  # finite, no NaN
