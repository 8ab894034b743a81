"""The ``vs-colorize-export`` command line: onnx / verify / engine subcommands and their error messages."""

from __future__ import annotations

import json
import subprocess
import sys

import onnx
import pytest
import torch
from onnx import TensorProto, helper
from test_export_onnx import filled_tiny

from vs_colorize.core.contract import read_model_info
from vs_colorize.core.fileio import sha256_file
from vs_colorize.export.cli import main
from vs_colorize.training.archs import CriticConfig, build_critic
from vs_colorize.training.checkpoint import save_critic, save_generator


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> str:
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_generator(path, filled_tiny())
    return str(path)


def test_onnx_subcommand_keeps_stdout_clean_and_verify_reports(checkpoint, tmp_path, capsys):
    out = tmp_path / "tiny.onnx"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "export",
            "onnx",
            "--checkpoint",
            checkpoint,
            "--out",
            str(out),
            "--render-size",
            "64",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # stdout belongs to pipelines
    assert "wrote" in proc.stderr and "parity" in proc.stderr
    info = read_model_info(out)
    assert (info.arch, info.static_size, info.source_sha256) == ("tiny", (64, 64), sha256_file(checkpoint))

    assert main(["verify", str(out), "--checkpoint", checkpoint, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is True and report["results"][0]["max_abs"] <= 1e-4

    other = tmp_path / "other.pt"
    gen = filled_tiny()
    with torch.no_grad():
        gen.layers[11][0].bias.add_(0.5)  # a different model: the artifact no longer matches it
    save_generator(other, gen)
    assert main(["verify", str(out), "--checkpoint", str(other)]) == 1
    assert "FAIL" in capsys.readouterr().err


def test_pt2_flag_writes_program_and_sidecar(checkpoint, tmp_path):
    out = tmp_path / "tiny.pt2"
    assert (
        main(["-q", "onnx", "--checkpoint", checkpoint, "--out", str(out), "--render-size", "64", "--pt2"])
        == 0
    )
    assert out.is_file() and (tmp_path / "tiny.pt2.json").is_file()


def _garbage(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"<html><body>404 Not Found</body></html>\n" * 50)  # a typical failed download
    return path


def _critic(tmp_path):
    path = tmp_path / "critic.pt"
    save_critic(path, build_critic(CriticConfig(nf=16)))
    return path


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        (lambda tmp: tmp / "missing.pt", [], "does not exist"),
        (_garbage, [], "load_generator: "),
        (_critic, [], "generator"),
        (None, ["--render-size", "72"], "render_size must be a positive multiple of 16, got 72"),
        (None, ["--render-size", "64", "64", "64"], "--render-size takes N or H W"),
        (None, ["--dynamic", "64", "40"], "dynamic max_side must be a positive multiple of 16, got 40"),
    ],
)
def test_onnx_subcommand_errors(checkpoint, tmp_path, capsys, make, extra, message):
    ckpt = make(tmp_path) if make else checkpoint
    out = tmp_path / "x.onnx"
    assert main(["onnx", "--checkpoint", str(ckpt), "--out", str(out), *extra]) == 2
    captured = capsys.readouterr()
    assert "vs-colorize-export onnx: error:" in captured.err and message in captured.err
    assert captured.out == ""
    assert not out.exists()


def test_existing_output_needs_overwrite(checkpoint, tmp_path, capsys):
    out = tmp_path / "x.onnx"
    out.write_bytes(b"previous")
    assert main(["onnx", "--checkpoint", checkpoint, "--out", str(out), "--render-size", "64"]) == 2
    assert "exists; pass overwrite=True" in capsys.readouterr().err
    assert out.read_bytes() == b"previous"


@pytest.mark.absent("tensorrt")
def test_engine_without_tensorrt_says_how_to_get_it(checkpoint, tmp_path, capsys):
    out = tmp_path / "tiny.onnx"
    assert main(["-q", "onnx", "--checkpoint", checkpoint, "--out", str(out), "--render-size", "64"]) == 0
    assert main(["engine", str(out)]) == 2
    captured = capsys.readouterr()
    assert "TensorRT is not installed" in captured.err and "vs-colorize[trt]" in captured.err
    assert captured.out == ""
    assert main(["engine", str(tmp_path / "nope.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_foreign_onnx_is_refused_by_verify_and_engine(checkpoint, tmp_path, capsys):
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"])],
        "foreign",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 64, 64])],
    )
    foreign = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph), str(foreign))
    for argv in (["verify", str(foreign), "--checkpoint", checkpoint], ["engine", str(foreign)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"vs-colorize-export {argv[0]}: error:" in err and "carries no vs_colorize metadata" in err
