"""The generators and the critic against the original DeOldify networks (reference/deoldify).

Each big network is built once per module (one at a time), filled by the fill rule (§7.1) and
compared key by key with the manifests and output by output with the reference tensors. ``stable``
is the ``video`` architecture: the reference files are identical, which is asserted, and the
``stable`` preset's layout is checked on the meta device.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.deoldify_fill import fill_state_dict, fillcheck, load_array, load_manifest
from vs_colorize.training.archs import Critic, UnetGenerator, bake_norms, build_critic, build_generator
from vs_colorize.training.archs.norms import SNConv, WNConv2d

MODELS = ["video", "artistic", "critic"]


def _summary(reference_dir: Path) -> dict:
    with open(reference_dir / "reference_summary.json") as f:
        return json.load(f)


@pytest.fixture(scope="module", params=MODELS)
def filled(request: pytest.FixtureRequest, reference_dir: Path) -> Iterator[tuple[str, nn.Module]]:
    """(name, model) with the fill-rule values loaded strictly, in eval mode."""
    name = request.param
    with torch.device("meta"):
        model = build_critic() if name == "critic" else build_generator(name)
    # assign=True adopts the filled tensors (no second copy); strict=True checks the key set.
    model.load_state_dict(fill_state_dict(load_manifest(reference_dir, name)), strict=True, assign=True)
    yield name, model.eval()
    del model


def _max_rel(y: torch.Tensor, ref: torch.Tensor) -> float:
    return ((y - ref).abs().max() / ref.abs().max()).item()


def test_fill_rule_matches_fillcheck(filled: tuple[str, nn.Module], reference_dir: Path) -> None:
    name, model = filled  # eval mode never changes the filled values
    state = model.state_dict()
    expected = fillcheck(reference_dir, name)
    assert list(state) == [k for k, _, _ in expected]
    for key, total, abs_total in expected:
        value = state[key]
        tol = 1e-9 * max(abs_total, 1.0)
        assert abs(value.sum(dtype=torch.float64).item() - total) <= tol, key
        assert abs(value.abs().sum(dtype=torch.float64).item() - abs_total) <= tol, key


def test_stable_references_equal_video(reference_dir: Path) -> None:
    assert load_manifest(reference_dir, "stable") == load_manifest(reference_dir, "video")
    assert fillcheck(reference_dir, "stable") == fillcheck(reference_dir, "video")
    for size in ("64x64", "80x80"):
        stable = (reference_dir / f"out_stable_{size}.npy").read_bytes()
        assert stable == (reference_dir / f"out_video_{size}.npy").read_bytes()


def test_stable_preset_layout(reference_dir: Path) -> None:
    with torch.device("meta"):
        model = build_generator("stable")
    assert model.config.name == "stable"
    _assert_layout(model, load_manifest(reference_dir, "stable"))


def test_state_dict_layout_equals_manifest(filled: tuple[str, nn.Module], reference_dir: Path) -> None:
    name, model = filled
    _assert_layout(model, load_manifest(reference_dir, name))


def _assert_layout(model: nn.Module, manifest: list[tuple[str, list[int], str]]) -> None:
    state = model.state_dict()
    assert list(state) == [k for k, _, _ in manifest]  # same keys, same registration order
    for key, shape, dtype in manifest:
        assert list(state[key].shape) == shape, key
        assert str(state[key].dtype) == f"torch.{dtype}", key


def test_parameter_counts(filled: tuple[str, nn.Module], reference_dir: Path) -> None:
    name, model = filled
    ref = _summary(reference_dir)[name]
    assert sum(p.numel() for p in model.parameters()) == ref["n_parameters"]
    state = model.state_dict()
    assert len(state) == ref["n_state_dict_keys"]
    assert sum(t.numel() for t in state.values()) == ref["n_state_dict_elements"]
    assert sum(t.numel() * t.element_size() for t in state.values()) == ref["state_dict_bytes"]
    if isinstance(model, UnetGenerator):
        assert sum(p.numel() for p in model.layers[0].parameters()) == ref["n_parameters_encoder"]
        assert sum(p.numel() for p in model.layers[3].parameters()) == ref["n_parameters_middle_conv"]


def test_reference_outputs(filled: tuple[str, nn.Module], reference_dir: Path) -> None:
    name, model = filled
    sizes = ["64x64"] if name == "critic" else ["64x64", "80x80"]
    with torch.no_grad():
        for size in sizes:
            x = load_array(reference_dir, f"input_{size}.npy")
            ref = load_array(reference_dir, f"out_{name}_{size}.npy")
            y = model(x)  # (out_stable_* equal out_video_*: test_stable_references_equal_video)
            assert y.shape == ref.shape
            assert _max_rel(y, ref) <= 1e-4, size


def test_held_back_size_statistics(filled: tuple[str, nn.Module], reference_dir: Path) -> None:
    """48x80 (generators) and 96x128 (critic): outputs are held back; check shape and §7.3 stats."""
    name, model = filled
    size = "96x128" if name == "critic" else "48x80"
    expected = _summary(reference_dir)[name]["outputs"][size]
    with torch.no_grad():
        y = model(load_array(reference_dir, f"input_{size}.npy")).double()
    assert list(y.shape) == expected["shape"]
    assert torch.isfinite(y).all()
    for stat in ("mean", "min", "max"):
        assert abs(getattr(y, stat)().item() - expected[stat]) < 5e-4, stat
    if name != "critic":
        channel_mean = y.mean(dim=(0, 2, 3)).tolist()
        assert channel_mean == pytest.approx(expected["channel_mean"], abs=5e-4)


def test_top_level_layer_statistics(filled: tuple[str, nn.Module], reference_dir: Path) -> None:
    """Every top-level layer's output at 64x64 matches the original's (where a mismatch starts)."""
    name, model = filled
    children = list(model.layers if isinstance(model, UnetGenerator) else model)
    outputs: dict[int, torch.Tensor] = {}
    hooks = [
        child.register_forward_hook(
            lambda _m, _i, out, i=i: outputs.__setitem__(
                i, (out[-1] if isinstance(out, tuple) else out).clone()
            )
        )
        for i, child in enumerate(children)
    ]
    try:
        with torch.no_grad():
            model(load_array(reference_dir, "input_64x64.npy"))
    finally:
        for hook in hooks:
            hook.remove()
    for stats in _summary(reference_dir)[name]["top_level_layer_stats_64x64"]:
        out = outputs[stats["index"]].double()
        assert list(out.shape) == stats["shape"], stats["index"]
        scale = max(abs(stats["min"]), abs(stats["max"]))
        assert abs(out.max().item() - stats["max"]) <= 1e-4 * scale, stats["index"]
        assert abs(out.min().item() - stats["min"]) <= 1e-4 * scale, stats["index"]
        assert abs(out.abs().sum().item() - stats["abs_sum"]) <= 1e-4 * stats["abs_sum"], stats["index"]


def test_bake_norms_equivalent(filled: tuple[str, nn.Module], reference_dir: Path) -> None:
    _, model = filled
    baked = bake_norms(model)
    assert not any(isinstance(m, SNConv | WNConv2d) for m in baked.modules())
    keys = baked.state_dict().keys()
    assert not [k for k in keys if k.endswith(("weight_orig", "weight_u", "weight_v", "weight_g"))]
    assert not any(m._forward_pre_hooks or m._forward_hooks for m in baked.modules())
    assert not baked.training
    assert type(baked) is type(model)
    assert isinstance(baked, Critic) or baked.config == model.config
    x = load_array(reference_dir, "input_64x64.npy")
    with torch.no_grad():
        y_ref = model(x)
        y = baked(x)
    assert _max_rel(y, y_ref) <= 1e-5
    assert any(isinstance(m, SNConv) for m in model.modules())  # the original is untouched
