"""A ``.pt2`` model never runs code: crafted archives are refused before torch reads them (issue 18.2).

Each attack plants ``open(marker, 'w')`` in one place ``torch.export.load`` would unpickle, ``eval`` or
``exec`` (six of them create the marker through plain ``torch.export.load`` in torch 2.15).
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import onnx_models as om
import pytest
import torch
import vapoursynth as vs
from crafted import pt2_attacks, rewrite_pt2

from vs_colorize.backends import Torch
from vs_colorize.cli import EXIT_OK, EXIT_USAGE, main
from vs_colorize.core.pt2 import Pt2Error, safe_pt2_bytes

#: attack → what the refusal says.
REASONS = {
    "sample_inputs": "data/sample_inputs/model.pt (a pickle torch would unpickle) references '_io open'",
    "pickled_weight": "'s' is stored as a pickle (use_pickle), which can run code",
    "opaque_constant": "unexpected member 'data/constants/opaque_obj_0'",
    "legacy_weights": "unexpected member 'data/weights/model.pt'",
    "guard": "guards_code",
    "symbolic_shape": "is not a plain sympy expression",
    "stack_trace": "holds a string with control characters",
    "call_target": "the graph calls 'torch.serialization.os.system'",
    "compiled_code": "unexpected member 'data/aotinductor/model/model.so'",
}


class Tint(torch.nn.Module):
    """x·s + b per channel, with a buffer (a weight) and a tensor made in forward (a constant)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("s", torch.tensor([1.0, 0.6, 0.3]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x * self.s + torch.tensor([0.1, 0.05, 0.0]).view(1, 3, 1, 1), 0.0, 1.0)


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dynamic-size torch.export program of :class:`Tint` with its sidecar: symbols, guards, weights,
    constants and sample inputs all present."""
    side = torch.export.Dim("side", min=16, max=256)
    program = torch.export.export(
        Tint(), (torch.rand(1, 3, 64, 64),), dynamic_shapes={"x": {2: side, 3: side}}
    )
    path = tmp_path_factory.mktemp("pt2") / "tint.pt2"
    torch.export.save(program, str(path))
    path.with_name("tint.pt2.json").write_text(json.dumps(om.colorize_info(arch="tint").to_props()))
    return path


def grey_png(path: Path) -> Path:
    """A 64×48 grey gradient PNG."""
    with av.open(str(path), "w", format="image2") as out:
        stream = out.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = 64, 48, "gray"
        ramp = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))
        out.mux(stream.encode(av.VideoFrame.from_ndarray(ramp, format="gray")))
        out.mux(stream.encode())
    return path


def crafted(good: Path, folder: Path, attack: str) -> tuple[Path, Path]:
    marker = folder / f"pwned_{attack}"
    return rewrite_pt2(good, folder / f"{attack}.pt2", pt2_attacks(marker)[attack]), marker


def test_plain_export_loads_and_runs(good: Path) -> None:
    session = Torch(device="cpu", channels_last=False).open(good, om.colorize_info(), (1, 3, 48, 48))
    x = np.random.default_rng(0).random((1, 3, 48, 48), dtype=np.float32)
    want = np.clip(
        x * np.array([1.0, 0.6, 0.3]).reshape(1, 3, 1, 1) + np.array([0.1, 0.05, 0.0]).reshape(1, 3, 1, 1),
        0,
        1,
    )
    np.testing.assert_allclose(session(x), want, atol=1e-6)


@pytest.mark.parametrize("attack", sorted(REASONS))
def test_crafted_pt2_is_refused_and_runs_nothing(good: Path, tmp_path: Path, attack: str) -> None:
    path, marker = crafted(good, tmp_path, attack)
    backend = Torch(device="cpu")
    with pytest.raises(vs.Error) as caught:
        session = backend.open(path, om.colorize_info(), (1, 3, 32, 32))
        session(np.zeros((1, 3, 32, 32), np.float32))  # guards run on the first call
    message = str(caught.value)
    assert message.startswith(f"Torch: model {str(path)!r} is refused: "), message
    assert REASONS[attack] in message
    assert not marker.exists(), "the crafted model ran code"


def test_cli_refuses_crafted_pt2_with_one_line(
    good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = grey_png(tmp_path / "grey.png")
    args = ["colorize", str(src), "--render-factor", "4", "--backend", "torch", "--model"]
    assert main([*args, str(good), str(tmp_path / "ok.png")]) == EXIT_OK, capsys.readouterr().err
    path, marker = crafted(good, tmp_path, "sample_inputs")
    capsys.readouterr()
    code = main([*args, str(path), str(tmp_path / "out.png")])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert f"model {str(path)!r} is refused" in err and "Traceback" not in err
    assert not marker.exists() and not (tmp_path / "out.png").exists()


def test_export_verify_refuses_crafted_pt2(good: Path, tmp_path: Path) -> None:
    from vs_colorize.export.errors import ExportError
    from vs_colorize.export.parity import verify

    path, marker = crafted(good, tmp_path, "guard")
    with pytest.raises(ExportError, match=rf"verify: artifact {str(path)!r} is refused: .*guards_code"):
        verify(path, Tint(), report_path=tmp_path / "report.json")
    assert not marker.exists()


def test_unreadable_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"f: model '.*nope.pt2' does not exist"):
        safe_pt2_bytes(tmp_path / "nope.pt2", func="f")
    junk = tmp_path / "junk.pt2"
    junk.write_bytes(b"not a zip" * 10)
    with pytest.raises(Pt2Error, match=r"f: model '.*junk.pt2' is refused: not a readable zip archive"):
        safe_pt2_bytes(junk, func="f")
