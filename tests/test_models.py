"""Model resolution: registry names, precision preference, default chain, sidecars."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import onnx_models as om
import pytest
import vapoursynth as vs

from vs_colorize import colorize, models
from vs_colorize.core import cache
from vs_colorize.models import resolve_model

core = vs.core


def install(name: str, precision: str) -> Path:
    """Put a tint model where the registry looks for ``name`` (the test's own user cache)."""
    info = om.colorize_info(arch=f"{name}-{precision}", precision=precision)
    return om.tint(cache.registry_model_path(name, precision), info=info)


def test_registry_name_prefers_precision() -> None:
    install("stable", "fp32")
    install("stable", "fp16")
    fp32 = resolve_model("stable", kind="colorize", func="colorize", precision="fp32")
    fp16 = resolve_model("stable", kind="colorize", func="colorize", precision="fp16")
    assert (fp32.info.precision, fp16.info.precision) == ("fp32", "fp16")
    assert fp32.name == "stable" and fp32.path == cache.registry_model_path("stable", "fp32")


def test_registry_falls_back_to_other_precision() -> None:
    install("artistic", "fp16")
    got = resolve_model("artistic", kind="colorize", func="colorize", precision="fp32")
    assert got.info.precision == "fp16"


def test_registry_name_not_installed() -> None:
    with pytest.raises(
        vs.Error, match=r"colorize: model='artistic' is not installed .*vs-colorize-export deoldify artistic"
    ):
        resolve_model("artistic", kind="colorize", func="colorize")


def test_default_chain_video_then_demo(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(models, "ASSETS", tmp_path / "assets")
    with pytest.raises(
        vs.Error, match=r"model=None but no model is installed .*vs-colorize-export deoldify video"
    ):
        resolve_model(None, kind="colorize", func="colorize")
    om.tint(tmp_path / "assets" / "demo-fp32.onnx")
    assert resolve_model(None, kind="colorize", func="colorize").name == "demo"
    install("video", "fp32")
    clip = core.std.BlankClip(format=vs.YUV420P8, width=64, height=64, length=1)
    with caplog.at_level(logging.INFO, logger="vs_colorize"):
        out = colorize(clip, render_factor=4)
    assert out.get_frame(0).props["VSColorizeModel"] == "video"
    assert "using model video" in caplog.text


def test_existing_file_named_like_registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A real file called e.g. ``video`` in the working directory is a path, not the registry entry."""
    monkeypatch.chdir(tmp_path)
    Path("video").write_bytes(b"x")
    with pytest.raises(vs.Error, match=r"must be .onnx, .pt2, .engine or .plan"):
        resolve_model("video", kind="colorize", func="colorize")


def test_sidecar_metadata(tmp_path: Path) -> None:
    pt2 = tmp_path / "m.pt2"
    pt2.write_bytes(b"not read here")
    with pytest.raises(vs.Error, match=r"has no metadata sidecar 'm.pt2.json'"):
        resolve_model(pt2, kind="colorize", func="colorize", formats=("pt2",))
    (tmp_path / "m.pt2.json").write_text("{broken")
    with pytest.raises(vs.Error, match=r"is not a usable artifact"):
        resolve_model(pt2, kind="colorize", func="colorize", formats=("pt2",))
    (tmp_path / "m.pt2.json").write_text(json.dumps(om.colorize_info(arch="x").to_props()))
    got = resolve_model(pt2, kind="colorize", func="colorize", formats=("pt2",))
    assert got.format == "pt2" and got.info.arch == "x"
    with pytest.raises(
        vs.Error, match=r"is a pt2 artifact, which this backend cannot load \(it loads onnx\)"
    ):
        resolve_model(pt2, kind="colorize", func="colorize")
