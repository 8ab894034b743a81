"""DDP on CPU with two gloo processes launched by torchrun: one training step leaves identical parameters on both
ranks, and the whole tiny NoGAN pipeline runs distributed with rank 0 alone writing files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vs_colorize.training.checkpoint import load_generator

ROOT = Path(__file__).resolve().parents[1]

WORKER = """
import json, sys
import torch
import torch.distributed as td
torch.set_num_threads(1)
from vs_colorize.training import dist
from vs_colorize.training.archs import build_generator
from vs_colorize.training.config import DataConfig, LossConfig
from vs_colorize.training.data import ColorizeDataset, StepSampler, make_loader, scan_images
from vs_colorize.training.optim import adam, discriminative_lrs, layer_groups
from vs_colorize.training.losses import build_feature_loss

info = dist.init_distributed("cpu")
torch.manual_seed(100 + info.rank)  # different initial weights per rank: DDP must broadcast rank 0's
gen = build_generator("tiny")
flat = lambda: torch.cat([p.detach().flatten() for p in gen.parameters()])
def gather(t):
    out = [torch.zeros_like(t) for _ in range(info.world)]
    td.all_gather(out, t)
    return out
initial = gather(flat())
model = dist.wrap(gen, info, torch.device("cpu"))
wrapped = flat()
scan = scan_images([sys.argv[1]], val_pct=0.0)
cfg = DataConfig(num_workers=0)
sampler = StepSampler(len(scan.train), 2, seed=3, total=1, rank=info.rank, world=info.world)
keys = next(iter(sampler))
x, y = next(iter(make_loader(ColorizeDataset(scan.train, cfg, 64), sampler, cfg, False)))
loss_fn = build_feature_loss(LossConfig(vgg_weights="random"))
opt = adam(layer_groups(gen), discriminative_lrs((1e-4, 1e-3)), 1e-3)
loss = loss_fn(model(x), y)
loss.backward()
opt.step()
after = gather(flat())
losses = gather(loss.detach().reshape(1))
all_keys = gather(torch.tensor([k[0] for k in keys]))
mean_loss = float(dist.mean_across(loss.detach()))
if info.is_main:
    json.dump({
        "initial_differ": not torch.equal(initial[0], initial[1]),
        "broadcast": torch.equal(wrapped, initial[0]),
        "same_after_step": torch.equal(after[0], after[1]),
        "changed": not torch.equal(after[0], wrapped),
        "losses": [float(l) for l in losses],
        "items": [t.tolist() for t in all_keys],
        "mean_loss": mean_loss,
    }, open(sys.argv[2], "w"))
del model, opt, loss  # the DDP wrapper holds the process group: release it before leaving the group
dist.cleanup()
"""


def _torchrun(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes",
        "1",
        "--nproc-per-node",
        "2",
    ]
    return subprocess.run([*cmd, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("ddp_images")
    for p in sorted((data_dir / "train256").glob("*.jpg"))[:16]:
        shutil.copy(p, folder / p.name)
    return folder


def test_two_gloo_ranks_hold_identical_parameters_after_a_step(images: Path, tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    result = tmp_path / "result.json"
    proc = _torchrun(str(script), str(images), str(result))
    assert proc.returncode == 0, proc.stderr[-4000:]
    r = json.loads(result.read_text())
    assert r["initial_differ"] and r["broadcast"]  # rank 1 started from rank 0's weights
    assert r["changed"] and r["same_after_step"]  # gradients were averaged: one model on both ranks
    assert r["losses"][0] != r["losses"][1]  # … although each rank saw its own shard of the batch
    assert set(r["items"][0]).isdisjoint(r["items"][1])
    assert abs(r["mean_loss"] - sum(r["losses"]) / 2) < 1e-6


@pytest.mark.slow
def test_tiny_nogan_runs_under_torchrun(images: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ("-m", "training", "nogan", "--recipe", "tiny", "--data", str(images), "--out", str(run))
    proc = _torchrun(*args, "--set", "cycles=1")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert json.loads((run / "progress.json").read_text())["done"][-1] == "gan.0"
    load_generator(run / "gen_pretrain" / "generator.pt")
    assert len(list((run / "cycle0" / "gan").glob("gen_*.pt"))) == 2
    assert len(list((run / "tb").glob("events.out.tfevents.*"))) == 1  # only rank 0 logs
    records = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    steps = [(r["phase"], r["step"]) for r in records if "event" not in r]
    assert len(steps) == len(set(steps)) == 2 + 2 + 2 + 4
