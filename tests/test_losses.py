"""Losses: VGG16-BN layers picked by name, DeOldify's weighting, weight sources, the critic's adaptive BCE."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vs_colorize.training.config import LossConfig
from vs_colorize.training.losses import (
    FEATURE_POOLS,
    AdaptiveBCE,
    FeatureLoss,
    base_loss,
    build_feature_loss,
    critic_loss,
    layers_before_pools,
    vgg16_bn_features,
    vgg16_bn_layers,
)


@pytest.fixture(scope="module")
def random_loss() -> FeatureLoss:
    return build_feature_loss(LossConfig(vgg_weights="random"))


def test_layers_before_pools_are_the_block_closing_relus() -> None:
    features = vgg16_bn_layers()
    names = layers_before_pools(features)
    assert names == ["5", "12", "22", "32", "42"]
    mods = dict(features.named_children())
    order = [n for n, _ in features.named_children()]
    for n in names:
        assert isinstance(mods[n], nn.ReLU)
        assert isinstance(mods[order[order.index(n) + 1]], nn.MaxPool2d)
    assert [names[i] for i in FEATURE_POOLS] == ["22", "32", "42"]


def test_layers_match_torchvision_vgg16_bn_features() -> None:
    from torchvision.models.vgg import cfgs, make_layers

    ours = vgg16_bn_layers().state_dict()
    theirs = make_layers(cfgs["D"], batch_norm=True).state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)


def test_feature_loss_uses_those_layers_with_deoldify_weights(random_loss: FeatureLoss) -> None:
    assert random_loss.layer_names == ["22", "32", "42"]
    assert random_loss.layer_weights == [20.0, 70.0, 10.0]
    assert all(not p.requires_grad for p in random_loss.features.parameters())
    torch.manual_seed(0)
    pred, target = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)
    feats = random_loss.features
    expected = F.l1_loss(pred, target)
    for idx, w in zip((22, 32, 42), (20.0, 70.0, 10.0), strict=True):
        with torch.no_grad():
            expected = expected + w * F.l1_loss(feats[: idx + 1](pred), feats[: idx + 1](target))
    got = random_loss(pred, target)
    assert torch.allclose(got, expected, rtol=1e-5)
    assert set(random_loss.terms) == {"pixel", "feat_22", "feat_32", "feat_42"}


def test_feature_loss_gradient_reaches_the_prediction_only(random_loss: FeatureLoss) -> None:
    pred = torch.randn(1, 3, 32, 32, requires_grad=True)
    random_loss.train()
    assert not random_loss.features.training  # VGG stays in eval mode (BatchNorm statistics frozen)
    random_loss(pred, torch.randn(1, 3, 32, 32)).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None for p in random_loss.features.parameters())


def test_random_weights_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="vs_colorize.training.losses"):
        a = vgg16_bn_features("random")
    assert "RANDOM weights" in caplog.text
    b = vgg16_bn_features("random")
    assert all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_local_weights_file_loads(tmp_path: Path) -> None:
    source = vgg16_bn_layers()
    with torch.no_grad():
        for p in source.parameters():
            p.uniform_(-1, 1)
    path = tmp_path / "vgg16_bn.pth"
    torch.save(
        {f"features.{k}": v for k, v in source.state_dict().items()} | {"classifier.0.weight": torch.ones(1)},
        path,
    )
    loaded = vgg16_bn_features(str(path))
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in source.state_dict().items())
    with pytest.raises(ValueError, match="vgg16_bn_features: weights"):
        vgg16_bn_features(str(tmp_path / "missing.pth"))


def test_feature_loss_argument_errors() -> None:
    features = vgg16_bn_layers()
    with pytest.raises(ValueError, match="FeatureLoss: layer_weights"):
        FeatureLoss(features, ["22", "32"], [1.0])
    with pytest.raises(ValueError, match="FeatureLoss: layer_names"):
        FeatureLoss(features, ["99"], [1.0])
    with pytest.raises(ValueError, match="base_loss: name"):
        base_loss("huber")


def test_adaptive_bce_expands_the_target_to_every_logit() -> None:
    logits = torch.randn(3, 5)
    target = torch.tensor([1.0, 0.0, 1.0])
    expected = F.binary_cross_entropy_with_logits(logits, target[:, None].expand(3, 5))
    assert torch.allclose(AdaptiveBCE()(logits, target), expected)


def test_critic_loss_is_the_mean_of_real_and_fake_terms() -> None:
    bce = AdaptiveBCE()
    real, fake = torch.randn(2, 4), torch.randn(2, 4)
    expected = (bce(real, torch.ones(2)) + bce(fake, torch.zeros(2))) / 2
    assert torch.allclose(critic_loss(bce, real, fake), expected)
    # a perfect critic has a loss near 0, a clueless one ln 2
    assert critic_loss(bce, torch.full((2, 4), 20.0), torch.full((2, 4), -20.0)) < 1e-6
    assert abs(float(critic_loss(bce, torch.zeros(2, 4), torch.zeros(2, 4))) - 0.6931) < 1e-3


def _normalised(rgb01: torch.Tensor) -> torch.Tensor:
    from vs_colorize.training.archs.imagenet import IMAGENET_MEAN, IMAGENET_STD

    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (rgb01 - mean) / std


def _photo_like(seed: int = 0) -> torch.Tensor:
    """Two smooth colour images [2, 3, 32, 32] in [0, 1] (blue top, green-brown bottom, some texture)."""
    g = torch.Generator().manual_seed(seed)
    img = torch.empty(2, 3, 32, 32)
    img[:, :, :16] = torch.tensor([0.35, 0.55, 0.85]).view(1, 3, 1, 1)
    img[:, :, 16:] = torch.tensor([0.45, 0.50, 0.20]).view(1, 3, 1, 1)
    return (img + 0.08 * torch.rand(img.shape, generator=g)).clamp(0, 1)


def test_generator_loss_without_colour_terms_is_the_feature_loss(random_loss: FeatureLoss) -> None:
    from vs_colorize.training.losses import GeneratorLoss

    pred, target = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    plain = GeneratorLoss(random_loss)
    assert torch.equal(plain(pred, target), random_loss(pred, target))
    assert set(plain.terms) == {"pixel", "feat_22", "feat_32", "feat_42"}


def test_chroma_term_is_the_reports_chroma_error(random_loss: FeatureLoss) -> None:
    from vs_colorize.training.losses import GeneratorLoss
    from vs_colorize.training.metrics import colour_metrics, swap_luma, to_grey

    target01 = _photo_like()
    chroma_only = GeneratorLoss(random_loss, chroma_weight=1.0)
    grey01 = to_grey(target01)
    chroma_only(_normalised(grey01), _normalised(target01))
    # a grey output's chroma error is the photo's own mean chroma, as the quality report measures it
    expected = colour_metrics(grey01, target01)["chroma_error"]
    assert chroma_only.terms["chroma"] * 100 == pytest.approx(expected, rel=1e-3)
    chroma_only(_normalised(target01), _normalised(target01))
    assert chroma_only.terms["chroma"] * 100 < 0.01
    # the prediction's own luma does not count: the runtime puts the source luma back first
    other01 = (0.5 * _photo_like(seed=1).flip(2) + 0.1).clamp(0, 1)  # other colours and a darker luma
    chroma_only(_normalised(other01), _normalised(target01))
    with_source_luma = colour_metrics(swap_luma(other01, target01), target01)["chroma_error"]
    with_own_luma = colour_metrics(other01, target01)["chroma_error"]
    assert abs(with_source_luma - with_own_luma) > 1.0  # the check below can tell them apart
    assert chroma_only.terms["chroma"] * 100 == pytest.approx(with_source_luma, rel=1e-3)


def test_colourfulness_hinge_charges_only_for_dull_colour(random_loss: FeatureLoss) -> None:
    from vs_colorize.training.losses import GeneratorLoss
    from vs_colorize.training.metrics import colourfulness, to_grey

    target01 = _photo_like()
    hinge = GeneratorLoss(random_loss, colourfulness_weight=1.0)
    vivid = (to_grey(target01) + 1.5 * (target01 - to_grey(target01))).clamp(0, 1)
    assert colourfulness(vivid) > colourfulness(target01)
    hinge(_normalised(vivid), _normalised(target01))
    assert hinge.terms["colourfulness"] == 0.0
    dull01 = to_grey(target01) + 0.3 * (target01 - to_grey(target01))
    dull = _normalised(dull01).requires_grad_(True)
    hinge(dull, _normalised(target01))
    expected = (colourfulness(target01) - colourfulness(dull01)) / 100
    assert hinge.terms["colourfulness"] == pytest.approx(expected, rel=1e-3)
    # its gradient makes the output more colourful
    feature_only = hinge.feature(dull, _normalised(target01))
    total = hinge(dull, _normalised(target01))
    (total - feature_only).backward()
    assert dull.grad is not None
    from vs_colorize.training.archs.imagenet import IMAGENET_STD

    step01 = dull01 - 0.5 * dull.grad / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    assert colourfulness(step01.clamp(0, 1)) > colourfulness(dull01)


def test_zero_feature_weights_never_run_vgg() -> None:
    class Exploding(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise AssertionError("VGG ran although every feature weight is 0")

    features = nn.Sequential(nn.Identity(), Exploding(), nn.MaxPool2d(2))
    loss = FeatureLoss(features, ["1"], [0.0])
    pred, target = torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8)
    assert torch.equal(loss(pred, target), F.l1_loss(pred, target))
    assert set(loss.terms) == {"pixel"}


def test_negative_colour_weights_are_refused() -> None:
    from vs_colorize.training.recipes import get_recipe

    cfg = get_recipe("tiny")
    cfg.loss.colourfulness_weight = -1.0
    with pytest.raises(ValueError, match=r"loss\.colourfulness_weight must be >= 0"):
        cfg.validate()
