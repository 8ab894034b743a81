"""The tiny preset (tests, CPU training, the demo model) and the generator's general behaviour."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from vs_colorize.training.archs import GeneratorConfig, UnetGenerator, bake_norms, build_generator
from vs_colorize.training.archs.norms import SNConv, WNConv2d


@pytest.fixture
def tiny() -> UnetGenerator:
    torch.manual_seed(0)
    return build_generator("tiny")


def test_tiny_size(tiny: UnetGenerator) -> None:
    n_params = sum(p.numel() for p in tiny.parameters())
    fp32_bytes = sum(t.numel() * t.element_size() for t in tiny.state_dict().values())
    assert n_params == 1_965_629  # documented in docs/architecture.md
    assert fp32_bytes < 10_000_000  # the demo's fp32 ONNX must stay <= 25 MB
    assert tiny.config.name == "tiny"
    assert tiny.layers[0].out_channels == 128


@pytest.mark.parametrize(("h", "w"), [(64, 64), (48, 80), (66, 70)])
def test_tiny_forward_backward(tiny: UnetGenerator, h: int, w: int) -> None:
    """Train-mode step at square, non-square and not-multiple-of-32 sizes: output in (−3, 3),
    every parameter gets a gradient, spectral-norm power iteration moves the u vectors."""
    x = torch.randn(2, 3, h, w)
    sn = next(m for m in tiny.modules() if isinstance(m, SNConv))
    u_before = sn.weight_u.clone()
    y = tiny(x)
    assert y.shape == (2, 3, h, w)
    assert y.min() > -3 and y.max() < 3
    torch.nn.functional.l1_loss(y, torch.zeros_like(y)).backward()
    missing = [n for n, p in tiny.named_parameters() if p.grad is None]
    assert not missing
    assert not torch.equal(sn.weight_u, u_before)


def test_build_argument_checks() -> None:
    with pytest.raises(
        ValueError, match=r"build_generator: config must be one of \['artistic', 'stable', 'tiny', 'video'\]"
    ):
        build_generator("colour")
    with pytest.raises(TypeError, match="build_generator: config must be a preset name or GeneratorConfig"):
        build_generator(3)  # type: ignore[arg-type]


def test_input_checks(tiny: UnetGenerator) -> None:
    tiny.eval()
    with pytest.raises(ValueError, match=r"UnetGenerator.forward: x must have even height and width.*65x64"):
        tiny(torch.randn(1, 3, 65, 64))
    with pytest.raises(ValueError, match=r"UnetGenerator.forward: x must be \[N, 3, H, W\]"):
        tiny(torch.randn(1, 1, 64, 64))


@pytest.fixture
def calibrated_tiny(tiny: UnetGenerator) -> UnetGenerator:
    """Tiny with BatchNorm running statistics from a few batches, so eval outputs are not saturated
    (fresh running stats of 0/1 let activations grow through the network)."""
    for m in tiny.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average
    with torch.no_grad():
        for _ in range(3):
            tiny(torch.randn(4, 3, 64, 64))
    tiny.eval()
    y = tiny(torch.randn(1, 3, 64, 64))
    assert (y.abs() > 2.99).float().mean() < 0.01  # mostly away from the sigmoid's ends
    return tiny


def test_tiny_bake_norms(calibrated_tiny: UnetGenerator) -> None:
    tiny = calibrated_tiny
    baked = bake_norms(tiny)
    assert not any(isinstance(m, SNConv | WNConv2d) for m in baked.modules())
    assert baked.config == tiny.config
    x = torch.randn(1, 3, 48, 80)
    with torch.no_grad():
        ref = tiny(x)
        torch.testing.assert_close(baked(x), ref, rtol=0, atol=1e-5 * ref.abs().max().item())


def test_single_channel_output_variant() -> None:
    """The blocks serve other heads (e.g. the SR model): 1 output channel, linear output."""
    gen = build_generator(GeneratorConfig(encoder="resnet18", encoder_width=8, y_range=None, n_out=1))
    y = gen(torch.randn(2, 3, 64, 64))
    assert y.shape == (2, 1, 64, 64)


def _standard_resnet18_unet() -> GeneratorConfig:
    return GeneratorConfig(name="r18", encoder="resnet18", encoder_width=64, decoder="deep", nf_factor=0.25)


def test_pretrained_encoder_from_local_file(tmp_path: Path) -> None:
    reference = torchvision.models.resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    gen = build_generator(_standard_resnet18_unet(), pretrained_encoder=str(path))
    torch.testing.assert_close(gen.layers[0][0].weight, reference.conv1.weight)
    torch.testing.assert_close(gen.layers[0][7][1].bn2.running_var, reference.layer4[1].bn2.running_var)
    # the encoder computes exactly torchvision's features (fc cut off)
    reference.eval()
    gen.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        body = nn.Sequential(*list(reference.children())[:-2])
        torch.testing.assert_close(gen.layers[0](x)[-1], body(x))


def test_pretrained_encoder_true_reads_torch_hub_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``True`` goes through torchvision's weights API; with the file already in torch.hub's
    cache nothing is downloaded."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    reference = torchvision.models.resnet18()
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    cached = tmp_path / "hub" / "checkpoints" / Path(url).name
    cached.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), cached)
    gen = build_generator(_standard_resnet18_unet(), pretrained_encoder=True)
    torch.testing.assert_close(gen.layers[0][4][0].conv1.weight, reference.layer1[0].conv1.weight)


def test_pretrained_encoder_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pretrained_encoder=True needs a standard torchvision ResNet"):
        build_generator("tiny", pretrained_encoder=True)
    with pytest.raises(FileNotFoundError, match="pretrained_encoder file"):
        build_generator("tiny", pretrained_encoder=str(tmp_path / "missing.pth"))
    wrong = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34().state_dict(), wrong)
    with pytest.raises(ValueError, match="does not fit this encoder"):
        build_generator(_standard_resnet18_unet(), pretrained_encoder=str(wrong))


def test_dynamic_shape_export(calibrated_tiny: UnetGenerator) -> None:
    """``torch.export`` with dynamic even H, W: no shape guard from the skip resize or the input
    check; the exported program matches eager at sizes that need the resize."""
    baked = bake_norms(calibrated_tiny)
    half_h, half_w = (
        torch.export.Dim("half_h", min=17, max=2048),
        torch.export.Dim("half_w", min=17, max=2048),
    )
    program = torch.export.export(
        baked, (torch.randn(1, 3, 96, 128),), dynamic_shapes={"x": {2: 2 * half_h, 3: 2 * half_w}}
    )
    exported = program.module()
    for h, w in ((80, 80), (48, 80), (96, 128)):
        x = torch.randn(1, 3, h, w)
        with torch.no_grad():
            torch.testing.assert_close(exported(x), baked(x), rtol=1e-5, atol=1e-5)


def test_detach_skips_only_changes_encoder_gradients() -> None:
    torch.manual_seed(0)
    plain = build_generator("tiny")
    detached = build_generator(dataclasses.replace(plain.config, detach_skips=True))
    detached.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    for model in (plain, detached):
        model(x).square().mean().backward()
    grads = {n: p.grad for n, p in plain.named_parameters()}
    for name, p in detached.named_parameters():
        same = torch.allclose(p.grad, grads[name], rtol=1e-4, atol=1e-7)
        feeds_skips = name.startswith("layers.0.") and not name.startswith("layers.0.7.")
        assert same != feeds_skips, name  # layer4 and the decoder are unaffected
