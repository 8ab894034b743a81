"""SR data loading, 3-frame tuples, the stability loss, the network and a tiny real training run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vs_colorize.training.archs.sr import SRConfig, build_sr
from vs_colorize.training.checkpoint import load_sr, meta_of, read_checkpoint
from vs_colorize.training.sr.crappify import SRCrappifyConfig
from vs_colorize.training.sr.data import TripletDataset, load_sequence, to_unit_gray
from vs_colorize.training.sr.loss import StabilityLoss
from vs_colorize.training.sr.train import SRTrainConfig, train

QUIET = SRCrappifyConfig(scale=2, gaussian_sigma=0, poisson_peak=0, localvar_scale=0, salt_pepper=0, spread=0)


def test_load_tiff_stacks_8_and_16_bit(tmp_path: Path) -> None:
    import tifffile

    rng = np.random.default_rng(0)
    for dtype in (np.uint8, np.uint16):
        data = rng.integers(0, np.iinfo(dtype).max, (5, 12, 10), dtype=dtype)
        tifffile.imwrite(tmp_path / f"s{dtype.__name__}.tif", data, photometric="minisblack")
        seq = load_sequence(tmp_path / f"s{dtype.__name__}.tif")
        assert seq.shape == (5, 12, 10) and seq.dtype == np.float32
        np.testing.assert_allclose(seq, data / np.iinfo(dtype).max, atol=1e-6)


def test_load_video_and_frame_folder(tmp_path: Path, data_dir: Path) -> None:
    import av

    frames = np.random.default_rng(1).integers(0, 255, (4, 16, 24), dtype=np.uint8)
    with av.open(str(tmp_path / "v.mkv"), "w") as out:
        stream = out.add_stream("ffv1", rate=5)
        stream.width, stream.height, stream.pix_fmt = 24, 16, "gray"
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="gray")))
        out.mux(stream.encode())
    np.testing.assert_allclose(load_sequence(tmp_path / "v.mkv"), frames / 255, atol=1e-6)
    em = load_sequence(data_dir / "microscopy" / "isbi2012_em_sstem_train30")
    assert em.shape == (30, 512, 512) and 0 <= em.min() < em.max() <= 1


def test_rgb_channel_and_luma() -> None:
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[..., 1] = 255
    assert np.all(to_unit_gray(rgb, 1) == 1.0)
    np.testing.assert_allclose(to_unit_gray(rgb), 0.587, atol=1e-6)
    with pytest.raises(ValueError, match="to_unit_gray: channel"):
        to_unit_gray(rgb, 3)


def test_tuples_share_one_crop_and_two_copies_share_the_target() -> None:
    base = np.random.default_rng(2).random((40, 40)).astype(np.float32) * 0.5
    seq = np.stack([base + 0.05 * t for t in range(6)])  # frame t = base + 0.05 t
    ds = TripletDataset([seq], crop=16, cfg=QUIET, length=20, seed=3)
    for i in range(20):
        lr1, lr2, hr, hr2 = ds[i]
        assert lr1.shape == (3, 8, 8) and hr.shape == (1, 16, 16)
        torch.testing.assert_close(hr, hr2)
        torch.testing.assert_close(lr1, lr2)  # noise-free: the two copies coincide
        d = lr1 - lr1[1:2]  # same crop, consecutive frames: differences are exactly -0.05, 0, +0.05
        torch.testing.assert_close(d, torch.tensor([-0.05, 0.0, 0.05]).view(3, 1, 1).expand_as(d))
        torch.testing.assert_close(lr1[1:2], F.avg_pool2d(hr[None], 2)[0])
    noisy = TripletDataset([seq], crop=16, cfg=dataclasses.replace(QUIET, gaussian_sigma=0.1), length=2)
    lr1, lr2, _, _ = noisy[0]
    assert (lr1 - lr2).abs().mean() > 0.01  # independent crappifications
    lr1b, *_ = noisy[0]
    torch.testing.assert_close(lr1, lr1b)  # reproducible per index
    single = TripletDataset([seq], crop=16, cfg=QUIET, length=1, window=1)
    assert single[0][0].shape == (1, 8, 8)


@pytest.mark.parametrize("window", [3, 1])
def test_adjacent_pairs_are_the_neighbouring_tuple_on_one_crop(window: int) -> None:
    base = np.random.default_rng(5).random((40, 40)).astype(np.float32) * 0.5
    seq = np.stack([base + 0.05 * t for t in range(5)])  # frame t = base + 0.05 t: the frame is readable
    ds = TripletDataset([seq], crop=16, cfg=QUIET, length=40, seed=2, window=window, pair="adjacent")
    steps = set()
    for i in range(40):
        lr1, lr2, hr1, hr2 = ds[i]
        assert lr1.shape == lr2.shape == (window, 8, 8)
        step = float((hr2 - hr1).mean()) / 0.05  # same crop: the targets differ by exactly one frame step
        torch.testing.assert_close(hr2 - hr1, torch.full_like(hr1, 0.05 * round(step)), atol=1e-6, rtol=0)
        steps.add(round(step))
        for lr, hr in ((lr1, hr1), (lr2, hr2)):  # each copy's centre is its own target, downsampled
            torch.testing.assert_close(lr[window // 2 : window // 2 + 1], F.avg_pool2d(hr[None], 2)[0])
    assert steps == {-1, 1}  # both neighbours, never the same frame
    with pytest.raises(ValueError, match="TripletDataset: pair"):
        TripletDataset([seq], crop=16, cfg=QUIET, length=1, pair="next")
    with pytest.raises(ValueError, match=r"TripletDataset: sequences\[0\] must be \(T>=4"):
        TripletDataset([seq[:3]], crop=16, cfg=QUIET, length=1, pair="adjacent")


def test_dataset_argument_errors() -> None:
    seq = np.zeros((2, 32, 32), np.float32)
    with pytest.raises(ValueError, match=r"TripletDataset: sequences\[0\]"):
        TripletDataset([seq], crop=16, cfg=QUIET, length=1)
    with pytest.raises(ValueError, match="TripletDataset: crop"):
        TripletDataset([np.zeros((3, 32, 32), np.float32)], crop=15, cfg=QUIET, length=1)


def test_stability_loss_formula() -> None:
    t = torch.zeros(1, 1, 2, 2)
    y1, y2 = torch.full_like(t, 0.5), torch.full_like(t, 0.2)
    parts = StabilityLoss("l1", stability=2.0)(y1, y2, t)
    assert parts["loss"].item() == pytest.approx(0.5 + 0.2 + 2.0 * 0.3)
    mse = StabilityLoss("mse", stability=0.5)(y1, y2, t)
    assert mse["loss"].item() == pytest.approx(0.25 + 0.04 + 0.5 * 0.09)
    assert StabilityLoss(stability=0)(y1, y2, t)["loss"].item() == pytest.approx(0.7)
    # adjacent tuples: each copy fits its own target and the term compares the errors, not the outputs
    t2 = torch.full_like(t, 0.3)
    adj = StabilityLoss("l1", stability=2.0)(y1, y2, t, t2)
    assert adj["fit2"].item() == pytest.approx(0.1)
    assert adj["consistency"].item() == pytest.approx(abs(0.5 - (0.2 - 0.3)))
    assert adj["loss"].item() == pytest.approx(0.5 + 0.1 + 2.0 * 0.6)
    steady = StabilityLoss("l1")(
        t + 0.1, t2 + 0.1, t, t2
    )  # the same error on both frames costs no consistency
    assert steady["consistency"].item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="StabilityLoss: base"):
        StabilityLoss("ssim")


@pytest.mark.parametrize(("window", "scale"), [(3, 4), (1, 2)])
def test_network_shapes_and_bicubic_start(window: int, scale: int) -> None:
    torch.manual_seed(0)
    net = build_sr(SRConfig(window=window, scale=scale, width=8)).eval()
    x = torch.rand(2, window, 12, 16)
    y = net(x)
    assert y.shape == (2, 1, 12 * scale, 16 * scale)
    centre = x[:, window // 2 : window // 2 + 1]
    ref = F.interpolate(centre, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)
    torch.testing.assert_close(y, ref)  # zero-initialised head: an untrained model is bicubic
    assert net.multiple == 4
    with pytest.raises(ValueError, match="SRConfig: window"):
        SRConfig(window=2)


def test_silent_neighbours_start_as_a_single_frame_network_and_can_learn_them() -> None:
    torch.manual_seed(0)
    net = build_sr(SRConfig(width=8)).train()
    torch.nn.init.normal_(net.out.weight, std=0.1)  # the zero-initialised last conv would hide every path
    net.silence_neighbours()
    x = torch.rand(1, 3, 16, 16)
    moved = x.clone()
    moved[:, [0, 2]] = torch.rand(1, 2, 16, 16)  # other neighbours, the same centre frame
    # one batch in training mode: one spectral-norm step and batch statistics shared by both samples (an
    # untrained net in eval mode has activations near 1e12, where a neighbour's share vanishes in rounding)
    y = net(torch.cat([x, moved]))
    assert y.std() > 1e-3  # the comparison below is between outputs that vary
    torch.testing.assert_close(y[0], y[1], rtol=0, atol=1e-6)
    net(moved).square().mean().backward()
    assert net.stem[0].weight_orig.grad[:, [0, 2]].abs().sum() > 0  # still trainable: not frozen at zero
    single = build_sr(SRConfig(window=1, width=8))
    before = [p.clone() for p in single.parameters()]
    single.silence_neighbours()  # no neighbours: nothing to do
    assert all(torch.equal(a, b) for a, b in zip(before, single.parameters(), strict=True))


def test_training_reduces_the_loss_on_a_fixed_batch() -> None:
    torch.manual_seed(0)
    seq = np.random.default_rng(4).random((4, 32, 32)).astype(np.float32)
    ds = TripletDataset([seq], crop=32, cfg=SRCrappifyConfig(), length=4, seed=1)
    lr1, lr2, hr, _ = (torch.stack(t) for t in zip(*(ds[i] for i in range(4)), strict=True))
    net, loss = build_sr(SRConfig(width=8)).train(), StabilityLoss()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    values = []
    for _ in range(25):
        parts = loss(net(lr1), net(lr2), hr)
        opt.zero_grad()
        parts["loss"].backward()
        opt.step()
        values.append(parts["loss"].item())
    assert values[-1] < 0.9 * values[0]


def test_tiny_training_run_on_shared_frames(tmp_path: Path, data_dir: Path) -> None:
    seq = data_dir / "microscopy" / "drosophila_gfp_histone_timelapse_seq2"
    cfg = SRTrainConfig(
        data=(str(seq),), out=str(tmp_path / "run"), model=SRConfig(width=8), crop=32, batch=2, steps=4
    )
    result = train(cfg)
    assert len(result["history"]) == 4 and all(np.isfinite(h["loss"]) for h in result["history"])
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["model"]["width"] == 8 and saved["crappify"]["scale"] == 4
    net, meta = load_sr(result["checkpoint"]), meta_of(read_checkpoint(result["checkpoint"]))
    assert meta["step"] == 4 and net.config == dataclasses.replace(cfg.model, clamp=False)
    assert meta["normalize"] == [2.0, 99.8]  # the default percentile normalisation, for export and runtime
    x = torch.rand(1, 3, 8, 8)
    assert net(x).shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match=r"TrainConfig: model\.scale"):
        SRTrainConfig(data=("x",), out="y", crappify=SRCrappifyConfig(scale=2))


def test_adjacent_training_compares_errors_not_outputs(tmp_path: Path) -> None:
    import tifffile

    # frame t = base + 0.04 t: an untrained (bicubic) network makes the same error on every frame, while its
    # outputs for neighbouring frames differ by 0.04. The first step's consistency tells which one was compared.
    base = 0.2 + 0.4 * F.avg_pool2d(torch.rand(1, 1, 64, 64), 5, 1, 2)[0, 0].numpy()
    tifffile.imwrite(tmp_path / "seq.tif", np.stack([base + 0.04 * t for t in range(5)]).astype(np.float32))
    quiet = SRCrappifyConfig(gaussian_sigma=0, poisson_peak=0, localvar_scale=0, salt_pepper=0, spread=0)
    run = {"data": (str(tmp_path / "seq.tif"),), "model": SRConfig(width=8), "crappify": quiet, "crop": 32}
    run |= {"batch": 2, "steps": 1, "normalize": None}
    adjacent = train(SRTrainConfig(out=str(tmp_path / "a"), pair="adjacent", **run))["history"][0]
    assert adjacent["consistency"] < 1e-3
    assert adjacent["fit1"] > 1e-3  # the errors themselves are not zero
    with pytest.raises(ValueError, match="SRTrainConfig: pair"):
        SRTrainConfig(out="y", pair="both", **run)


def test_feature_loss_option_compares_vgg_features_of_the_grey_frames() -> None:
    from vs_colorize.training.config import LossConfig
    from vs_colorize.training.losses import build_feature_loss

    torch.manual_seed(0)
    feature = build_feature_loss(LossConfig(vgg_weights="random"))
    t = torch.rand(2, 1, 32, 32)
    y1 = (t + 0.05 * torch.randn_like(t)).clamp(0, 1).requires_grad_()
    y2 = t.clone()
    parts = StabilityLoss("l1", stability=1.0, feature=feature)(y1, y2, t)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def rgb(x: torch.Tensor) -> torch.Tensor:
        return (x.expand(-1, 3, -1, -1) - mean) / std

    assert parts["fit1"].item() == pytest.approx(feature(rgb(y1), rgb(t)).item(), rel=1e-6)
    assert parts["fit1"].item() > F.l1_loss(y1, t).item()  # the feature terms add to the pixel term
    assert parts["fit2"].item() == pytest.approx(0.0, abs=1e-6)  # identical frames: no pixel or feature error
    assert parts["consistency"].item() == pytest.approx(F.l1_loss(y1, y2).item())  # stays a pixel loss
    parts["loss"].backward()
    assert y1.grad is not None and y1.grad.abs().sum() > 0
