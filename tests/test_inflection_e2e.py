"""pick_inflection end to end: real tiny generators, real holdout photos, every report file and the ``best`` link."""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image

from vs_colorize.training.archs import build_generator
from vs_colorize.training.checkpoint import save_generator
from vs_colorize.training.inflection import (
    add_arguments,
    checkpoint_step,
    evaluate_checkpoints,
    find_checkpoints,
    pick_inflection,
    run,
)
from vs_colorize.training.metrics import load_holdout

SIZE = 48
# (file name, stored step, orange push on the output layer): the names sort differently from the steps on purpose
SEQUENCE = (("gen_d.pt", 100, 0.0), ("gen_c.pt", 200, 0.05), ("gen_b.pt", 300, 0.5), ("gen_a.pt", 400, 1.0))
MEAN = torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)
STD = torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """One intra-op thread: on a shared 2-core box two threads contend and run ~10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def holdout(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("holdout")
    for src in sorted((data_dir / "bsds500_test_sample50").glob("*.jpg"))[:4]:
        shutil.copy(src, folder / src.name)
    return folder


@pytest.fixture(scope="module")
def ckpt_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GAN-like sequence: a briefly trained generator, then with a growing orange bias on its output layer."""
    folder = tmp_path_factory.mktemp("ckpts")
    torch.manual_seed(0)
    # A few L1 steps take the randomly initialised network out of its saturated output range.
    photos, grey = load_holdout(data_dir / "train256", size=32, max_images=4)
    gen = build_generator("tiny")
    opt = torch.optim.Adam(gen.parameters(), lr=2e-3)
    for _ in range(10):
        loss = (gen((grey - MEAN) / STD) - (photos - MEAN) / STD).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    gen.eval()
    bias = gen.layers[11][0].bias
    clean = bias.detach().clone()
    for name, step, push in SEQUENCE:
        with torch.no_grad():
            bias.copy_(clean + push * torch.tensor([1.0, 0.2, -1.0]))
        save_generator(folder / name, gen, step=step)
    (folder / "notes.txt").write_text("not a checkpoint")
    return folder


def test_checkpoints_are_ordered_by_stored_step(ckpt_dir: Path, tmp_path: Path) -> None:
    found = find_checkpoints(ckpt_dir)
    assert [s for s, _ in found] == [100, 200, 300, 400]
    assert [p.name for _, p in found] == ["gen_d.pt", "gen_c.pt", "gen_b.pt", "gen_a.pt"]
    named = tmp_path / "model_iter_0750.pth"
    named.write_bytes(b"no step inside")
    assert checkpoint_step(named) == 750  # falls back to the file name


def test_evaluation_sees_the_orange_push(ckpt_dir: Path, holdout: Path) -> None:
    evals = evaluate_checkpoints(sorted(ckpt_dir.glob("*.pt")), holdout, size=SIZE, max_images=4, samples=2)
    assert [e.step for e in evals] == [100, 200, 300, 400]
    casts = [e.metrics["neutral_cast"] for e in evals]
    assert casts[3] > casts[2] > casts[0] + 5.0
    assert evals[3].metrics["chroma_error"] > evals[0].metrics["chroma_error"]
    assert all(len(e.samples) == 2 and e.samples[0].shape == (SIZE, SIZE, 3) for e in evals)
    assert all(e.metrics["noise_instability"] >= 0.0 for e in evals)


def test_pick_inflection_writes_the_report_and_links_best(
    ckpt_dir: Path, holdout: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    chosen = pick_inflection(ckpt_dir, holdout, out, size=SIZE, max_images=4, samples=2, patience=1)
    assert chosen.name in ("gen_d.pt", "gen_c.pt")  # before the orange push
    for name in ("inflection.json", "inflection.md", "inflection.png", "samples.png"):
        assert (out / name).stat().st_size > 0, name
    best = out / "best"
    assert best.is_symlink() and best.resolve() == chosen.resolve()

    report = json.loads((out / "inflection.json").read_text())
    assert report["picked"]["step"] in (100, 200)
    assert report["turn"]["step"] == 300
    assert [c["step"] for c in report["checkpoints"]] == [100, 200, 300, 400]
    assert report["rule"]["patience"] == 1
    table = (out / "inflection.md").read_text()
    assert "**pick**" in table and "turn" in table and "gen_b.pt" in table

    with Image.open(out / "samples.png") as grid:
        # grey + truth + first/pick/turn/last (the pick may be the first)
        assert grid.height == 14 + 2 * SIZE
        assert grid.width in (5 * SIZE, 6 * SIZE)
    with Image.open(out / "inflection.png") as plot:
        assert plot.width > 300 and plot.height > 200

    # a second run into the same folder replaces the link
    again = pick_inflection(ckpt_dir, holdout, out, size=SIZE, max_images=4, samples=2, patience=1)
    assert (out / "best").resolve() == again.resolve()


def test_cli_subcommand(
    ckpt_dir: Path, holdout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "cli"
    common = ["--size", str(SIZE), "--max-images", "4", "--patience", "1"]
    args = parser.parse_args(
        ["--ckpts", str(ckpt_dir), "--holdout", str(holdout), "--out", str(out), *common]
    )
    assert run(args) == 0
    assert Path(capsys.readouterr().out.strip()).resolve() == (out / "best").resolve()
    signals = [sig["name"] for sig in json.loads((out / "inflection.json").read_text())["rule"]["signals"]]
    assert "colourfulness_shortfall" not in signals  # the colour preference is opt-in

    args = parser.parse_args(
        ["--ckpts", str(ckpt_dir), "--holdout", str(holdout), "--out", str(out), *common, "--prefer-colour"]
    )
    assert run(args) == 0
    signals = [sig["name"] for sig in json.loads((out / "inflection.json").read_text())["rule"]["signals"]]
    assert signals[-1] == "colourfulness_shortfall"


def test_empty_or_missing_folders_give_clear_errors(holdout: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"find_checkpoints: ckpt_dir .* holds no checkpoint"):
        pick_inflection(empty, holdout, tmp_path / "out")
    with pytest.raises(FileNotFoundError, match=r"find_checkpoints: ckpt_dir .* is not a directory"):
        pick_inflection(tmp_path / "missing", holdout, tmp_path / "out")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--ckpts", str(empty), "--holdout", str(holdout), "--out", str(tmp_path / "o")])
    assert run(args) == 2


def test_bad_arguments_name_the_function(ckpt_dir: Path, holdout: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="evaluate_checkpoints: size must be a multiple of 16"):
        evaluate_checkpoints([ckpt_dir / "gen_a.pt"], holdout, size=50)
    with pytest.raises(ValueError, match=r"load_holdout: holdout_dir .* holds no image"):
        evaluate_checkpoints([ckpt_dir / "gen_a.pt"], tmp_path, size=SIZE)


@pytest.mark.gpu
def test_cuda_scores_match_cpu(ckpt_dir: Path, holdout: Path) -> None:
    paths = sorted(ckpt_dir.glob("*.pt"))[:2]
    cpu = evaluate_checkpoints(paths, holdout, size=SIZE, max_images=4, samples=0)
    gpu = evaluate_checkpoints(paths, holdout, size=SIZE, max_images=4, samples=0, device="cuda")
    for a, b in zip(cpu, gpu, strict=True):
        for key, value in a.metrics.items():
            assert b.metrics[key] == pytest.approx(value, rel=1e-2, abs=0.05, nan_ok=True), key
