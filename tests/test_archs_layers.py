"""The building blocks against torch's own legacy spectral/weight norm and first principles."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vs_colorize.training.archs import CriticConfig, GeneratorConfig, bake_norms, build_critic
from vs_colorize.training.archs.layers import Blur, PixelShuffleUp, SelfAttention, resize_to
from vs_colorize.training.archs.norms import SNConv, WNConv2d


def _torch_sn(ni: int, nf: int, ks: int, ndim: int, bias: bool) -> nn.Module:
    conv_cls = nn.Conv2d if ndim == 2 else nn.Conv1d
    return nn.utils.spectral_norm(conv_cls(ni, nf, ks, padding=(ks - 1) // 2, bias=bias))


@pytest.mark.parametrize(("ndim", "ks", "bias"), [(2, 3, True), (2, 1, False), (1, 1, False)])
def test_spectral_norm_matches_torch_legacy(ndim: int, ks: int, bias: bool) -> None:
    """Same state-dict layout as torch.nn.utils.spectral_norm; same output, buffers and gradient
    after train-mode steps (one power iteration each) and in eval mode (none)."""
    torch.manual_seed(0)
    ref = _torch_sn(6, 5, ks, ndim, bias)
    ours = SNConv(6, 5, ks, bias=bias, ndim=ndim)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 6, *([7] * ndim))
    for _ in range(3):
        y_ref, y = ref(x), ours(x)
        torch.testing.assert_close(y, y_ref)
        y_ref.square().sum().backward()
        y.square().sum().backward()
    torch.testing.assert_close(ours.weight_u, ref.weight_u)
    torch.testing.assert_close(ours.weight_v, ref.weight_v)
    torch.testing.assert_close(ours.weight_orig.grad, ref.weight_orig.grad)
    ref.eval()
    ours.eval()
    u_before = ours.weight_u.clone()
    torch.testing.assert_close(ours(x), ref(x))
    assert torch.equal(ours.weight_u, u_before)  # no power iteration in eval


def test_spectral_norm_loads_torch_pre_1_0_layout() -> None:
    """A 'version None' state dict (weight_orig, weight_u and the normalised weight, no weight_v)."""
    torch.manual_seed(1)
    source = SNConv(4, 8, 3)
    with torch.no_grad():
        source.weight_orig[0, 0, 0, 0] = 0.0  # exact zeros happen; torch's own hook gives NaN then
    source.train()
    source(torch.randn(1, 4, 5, 5))  # a power iteration, as the old files have had
    source.eval()
    old = {k: v for k, v in source.state_dict().items() if k != "weight_v"}
    old["weight"] = source.effective_weight().detach()
    target = SNConv(4, 8, 3).eval()
    target.load_state_dict(old, strict=True)
    torch.testing.assert_close(target.effective_weight(), source.effective_weight(), rtol=1e-5, atol=1e-6)


def test_spectral_norm_loads_plain_conv_weight() -> None:
    """A plain conv ``weight`` (no weight_orig/u/v) becomes an SN layer with exactly that weight."""
    torch.manual_seed(2)
    plain = nn.Conv2d(4, 8, 3, padding=1)
    target = SNConv(4, 8, 3).eval()
    target.load_state_dict(plain.state_dict(), strict=True)
    torch.testing.assert_close(target.effective_weight(), plain.weight.detach(), rtol=1e-5, atol=1e-6)
    x = torch.randn(1, 4, 6, 6)
    torch.testing.assert_close(target(x), plain(x), rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated:FutureWarning")
def test_weight_norm_matches_torch_legacy() -> None:
    torch.manual_seed(3)
    ref = nn.utils.weight_norm(nn.Conv2d(6, 12, 1))
    ours = WNConv2d(6, 12, 1)
    assert sorted(ours.state_dict()) == sorted(ref.state_dict())
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 6, 5, 5)
    torch.testing.assert_close(ours(x), ref(x))


def test_self_attention_formula() -> None:
    """out_j = x_j + γ Σ_i softmax_i(f_i·g_j) h_i, computed independently with einsum."""
    torch.manual_seed(4)
    sa = SelfAttention(16).eval()
    with torch.no_grad():
        sa.gamma.fill_(0.7)
    x = torch.randn(2, 16, 3, 5)
    flat = x.flatten(2)
    f = torch.einsum("oc,bcn->bon", sa.query.effective_weight()[..., 0], flat)
    g = torch.einsum("oc,bcn->bon", sa.key.effective_weight()[..., 0], flat)
    h = torch.einsum("oc,bcn->bon", sa.value.effective_weight()[..., 0], flat)
    logits = torch.einsum("bci,bcj->bij", f, g)
    beta = logits.softmax(dim=1)  # over i: every column j sums to 1
    expected = flat + 0.7 * torch.einsum("bci,bij->bcj", h, beta)
    with torch.no_grad():
        torch.testing.assert_close(sa(x), expected.reshape(x.shape), rtol=1e-5, atol=1e-5)
    fresh = SelfAttention(16)
    torch.testing.assert_close(fresh(x), x)  # gamma starts at 0


def test_blur_pads_left_and_top() -> None:
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    y = Blur()(x)
    assert y.shape == x.shape
    assert y[0, 0, 0, 0] == x[0, 0, 0, 0]  # replicated corner
    assert y[0, 0, 2, 2] == x[0, 0, 1:, 1:].mean()


def test_pixel_shuffle_up_icnr_is_nearest_like() -> None:
    """Fresh ICNR weights give four equal sub-pixels per 2x2 block (before the blur)."""
    torch.manual_seed(5)
    up = PixelShuffleUp(8, 4, blur=False).eval()
    y = up(torch.randn(1, 8, 3, 5))
    assert y.shape == (1, 4, 6, 10)
    torch.testing.assert_close(y, F.interpolate(y[..., ::2, ::2], scale_factor=2, mode="nearest"))


def test_resize_to_is_legacy_nearest() -> None:
    x = torch.arange(36.0).reshape(1, 1, 6, 6)
    ref = torch.empty(1, 1, 5, 3)
    y = resize_to(x, ref)
    rows = [i * 6 // 5 for i in range(5)]  # src = floor(dst·in/out)
    cols = [j * 6 // 3 for j in range(3)]
    assert torch.equal(y[0, 0], x[0, 0][rows][:, cols])
    assert resize_to(x, x) is x


def test_config_json_round_trip_and_validation() -> None:
    config = GeneratorConfig(name="sr", encoder="resnet18", encoder_width=16, y_range=None, n_out=1)
    assert GeneratorConfig.from_dict(json.loads(json.dumps(asdict(config)))) == config
    video = GeneratorConfig(encoder="resnet101", decoder="wide", nf_factor=2.0)
    assert GeneratorConfig.from_dict(json.loads(json.dumps(asdict(video)))) == video
    assert CriticConfig.from_dict(asdict(CriticConfig(nf=16))) == CriticConfig(nf=16)
    assert video.same_architecture(GeneratorConfig(**{**asdict(video), "name": "x", "detach_skips": True}))
    assert not video.same_architecture(GeneratorConfig(**{**asdict(video), "nf_factor": 1.5}))
    with pytest.raises(ValueError, match="GeneratorConfig: encoder must be one of"):
        GeneratorConfig(encoder="vgg16")
    with pytest.raises(ValueError, match="GeneratorConfig: decoder"):
        GeneratorConfig(decoder="narrow")
    with pytest.raises(ValueError, match="unknown keys"):
        GeneratorConfig.from_dict({"encoder": "resnet18", "colour": 1})
    with pytest.raises(ValueError, match="CriticConfig: p"):
        CriticConfig(p=1.5)


def test_small_critic_trains_and_bakes() -> None:
    torch.manual_seed(6)
    critic = build_critic(CriticConfig(nf=16))
    x = torch.randn(2, 3, 96, 128)
    logits = critic(x)
    assert logits.shape == (2, 15)  # (96/16 - 3) * (128/16 - 3)
    F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits)).backward()
    assert all(p.grad is not None for p in critic.parameters())
    with torch.no_grad():
        torch.testing.assert_close(bake_norms(critic)(x), critic.eval()(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"Critic.forward: x must be \[N, 3, H, W\]"):
        critic(torch.randn(1, 1, 64, 64))
