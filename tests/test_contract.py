"""The export → runtime metadata contract and the dependency-free ONNX metadata reader."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import onnx
import pytest
from onnx import TensorProto, helper

from vs_colorize.core import fileio
from vs_colorize.core.cache import engine_key, registry_model_path
from vs_colorize.core.contract import (
    ContractError,
    ModelInfo,
    read_model_info,
    read_onnx_metadata,
    read_sidecar,
    sidecar_path,
)
from vs_colorize.core.fileio import atomic_output


def _identity_onnx(path, props: dict[str, str]) -> None:
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "H", "W"])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "H", "W"])
    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["output"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    helper.set_model_props(model, props)
    onnx.save(model, path)


def test_props_round_trip_static_and_dynamic():
    static = ModelInfo(kind="colorize", arch="video", static_size=(336, 336), source_sha256="ab" * 32)
    assert ModelInfo.from_props(static.to_props()) == static
    dynamic = ModelInfo(
        kind="superres",
        arch="sr-unet",
        precision="fp16",
        dynamic_range=(64, 2048),
        multiple=8,
        in_channels=3,
        out_channels=1,
        scale=4,
        window=3,
    )
    props = dynamic.to_props()
    assert props["vs_colorize.dynamic_range"] == "64-2048"
    assert ModelInfo.from_props(props) == dynamic
    assert dynamic.accepts(128, 256) and not dynamic.accepts(130, 256) and not dynamic.accepts(4096, 256)
    assert static.accepts(336, 336) and not static.accepts(320, 336)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(kind="denoise", arch="x", static_size=(16, 16)), "kind"),
        (dict(kind="colorize", arch="x"), "exactly one"),
        (dict(kind="colorize", arch="x", static_size=(16, 16), dynamic_range=(16, 32)), "exactly one"),
        (dict(kind="colorize", arch="x", dynamic_range=(64, 32)), "dynamic_range"),
        (dict(kind="colorize", arch="x", static_size=(16, 16), precision="int8"), "precision"),
        (
            dict(kind="superres", arch="x", static_size=(16, 16), window=3, in_channels=3, out_channels=3),
            "1 channel",
        ),
    ],
)
def test_invalid_info_is_refused(kwargs, match):
    with pytest.raises(ContractError, match=match):
        ModelInfo(**kwargs)


def test_metadata_read_back_without_onnx_package(tmp_path):
    info = ModelInfo(kind="colorize", arch="tiny", dynamic_range=(64, 1024), opset=18)
    path = tmp_path / "m.onnx"
    _identity_onnx(path, {**info.to_props(), "producer_note": "kept"})
    props = read_onnx_metadata(path)
    assert props["producer_note"] == "kept"
    assert read_model_info(path) == info


def test_foreign_and_broken_files_get_clear_errors(tmp_path):
    foreign = tmp_path / "foreign.onnx"
    _identity_onnx(foreign, {})
    with pytest.raises(ContractError, match="no vs_colorize metadata"):
        read_model_info(foreign)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\x01\x02 definitely not protobuf")
    with pytest.raises(ContractError):
        read_onnx_metadata(garbage)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(foreign.read_bytes()[:20])
    with pytest.raises(ContractError):
        read_onnx_metadata(truncated)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_output_refuses_overwrite_and_cleans_up(tmp_path):
    target = tmp_path / "out.mkv"
    with atomic_output(target) as tmp:
        assert tmp.name.endswith(".mkv") and tmp.parent == tmp_path
        tmp.write_bytes(b"done")
    assert target.read_bytes() == b"done"
    assert target.stat().st_mode & 0o777 == 0o666 & ~_current_umask()
    assert _current_umask() == fileio.UMASK  # read once at import, without a set-and-restore race
    with pytest.raises(FileExistsError), atomic_output(target):
        pass
    with pytest.raises(RuntimeError), atomic_output(target, overwrite=True) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"done"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mkv"]


def test_cache_layout_follows_environment(_isolated_cache):
    assert registry_model_path("video", "fp16") == _isolated_cache / "models" / "video-fp16.onnx"
    assert engine_key(a=1, b="x") == engine_key(b="x", a=1) != engine_key(a=2, b="x")


def test_runtime_import_stays_light():
    code = (
        "import sys, vs_colorize, vs_colorize.core.contract, vs_colorize.core.cache, vs_colorize.core.fileio;"
        "heavy = [m for m in ('torch', 'onnxruntime', 'tensorrt', 'onnx', 'training', 'export') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_read_sidecar(tmp_path):
    engine = tmp_path / "m.engine"
    assert sidecar_path(engine) == tmp_path / "m.engine.json"
    with pytest.raises(ContractError, match=r"has no metadata sidecar 'm.engine.json'"):
        read_sidecar(engine)
    sidecar_path(engine).write_text("{broken")
    with pytest.raises(ContractError, match=r"metadata sidecar .*m.engine.json' is not readable JSON"):
        read_sidecar(engine)
    sidecar_path(engine).write_text("[1, 2]")
    with pytest.raises(ContractError, match=r"must hold a JSON object, got list"):
        read_sidecar(engine)
    info = ModelInfo(kind="colorize", arch="x", dynamic_range=(16, 64))
    sidecar_path(engine).write_text(json.dumps(info.to_props()))
    assert read_sidecar(engine) == info


def test_describe_is_one_line_with_the_shapes() -> None:
    dyn = ModelInfo(kind="colorize", arch="tiny", dynamic_range=(64, 1024))
    assert dyn.describe() == "colorize tiny fp32, sides 64..1024, multiple of 16"
    static = ModelInfo(kind="colorize", arch="video", precision="fp16", static_size=(336, 448))
    assert static.shapes() == "static 448x336"  # width x height, as VapourSynth prints sizes
    sr = ModelInfo(
        kind="superres", arch="pssr", static_size=(64, 64), in_channels=3, out_channels=1, scale=4, window=3
    )
    assert sr.describe() == "superres pssr fp32, static 64x64, 4x from 3 frames"
