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
