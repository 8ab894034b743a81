"""Sanity of the colour metrics on real photos and on images with known, hand-derivable values."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vs_colorize.training.metrics import (
    colour_metrics,
    colourfulness,
    colourfulness_per_image,
    generator_colorizer,
    luma,
    mean_saturation,
    neutral_mask,
    noise_instability,
    rgb_to_lab,
    skin_mask,
    swap_luma,
    to_grey,
)


def _photo(data_dir: Path, name: str, size: int = 96) -> torch.Tensor:
    img = Image.open(data_dir / name).convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1).unsqueeze(0)


def _rotate_chroma(rgb: torch.Tensor, degrees: float, gain: float = 1.0) -> torch.Tensor:
    """Rotate (and scale) the BT.601 colour-difference vector of every pixel, keeping its luma."""
    y = luma(rgb)
    u = (rgb[:, 2:3] - y) * 0.492
    v = (rgb[:, 0:1] - y) * 0.877
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    u2, v2 = gain * (c * u - s * v), gain * (s * u + c * v)
    r = y + v2 / 0.877
    b = y + u2 / 0.492
    g = (y - 0.299 * r - 0.114 * b) / 0.587
    return torch.cat((r, g, b), dim=1).clamp(0.0, 1.0)


def _skin_image(size: int = 32) -> torch.Tensor:
    """A textured patch of a light skin tone (sRGB about 224/172/140) with a little luma texture."""
    base = torch.tensor([0.88, 0.67, 0.55]).view(1, 3, 1, 1)
    ramp = torch.linspace(-0.06, 0.06, size).view(1, 1, 1, size)
    return (base + ramp).expand(1, 3, size, size).clamp(0, 1).contiguous()


@pytest.fixture(scope="module")
def photo(data_dir: Path) -> torch.Tensor:
    return _photo(data_dir, "bsds500_test_sample50/100007.jpg")


def test_lab_matches_published_values() -> None:
    # sRGB primaries/white in CIELAB D65 (Lindbloom's calculator): red (53.24, 80.09, 67.20), white (100, 0, 0).
    rgb = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 1.0]]).T.reshape(1, 3, 1, 3)
    lab = rgb_to_lab(rgb)[0, :, 0, :].T
    assert torch.allclose(lab[0], torch.tensor([53.24, 80.09, 67.20]), atol=0.02)
    assert torch.allclose(lab[1], torch.tensor([100.0, 0.0, 0.0]), atol=0.02)
    assert torch.allclose(lab[2], torch.tensor([32.30, 79.19, -107.86]), atol=0.02)


def test_colourfulness_of_red_green_halves_matches_definition() -> None:
    # Half pure red, half pure green: rg = ±255 (σ 255, μ 0), yb = 127.5 everywhere (σ 0, μ 127.5).
    img = torch.zeros(1, 3, 4, 4)
    img[:, 0, :, :2] = 1.0
    img[:, 1, :, 2:] = 1.0
    assert colourfulness(img) == pytest.approx(255.0 + 0.3 * 127.5, rel=1e-5)


def test_grey_prediction_has_no_colour(photo: torch.Tensor) -> None:
    grey = to_grey(photo)
    m = colour_metrics(grey, photo)
    assert m["colourfulness"] == pytest.approx(0.0, abs=1e-3)
    assert m["saturation"] == pytest.approx(0.0, abs=1e-6)
    assert m["colourfulness_target"] > 10.0
    assert m["colourfulness_gap"] == pytest.approx(-m["colourfulness_target"], abs=1e-3)
    assert m["chroma_error"] > 3.0
    assert m["neutral_cast"] == pytest.approx(0.0, abs=0.05)


def test_perfect_prediction_scores_zero_error(photo: torch.Tensor) -> None:
    m = colour_metrics(photo, photo)
    assert m["chroma_error"] == pytest.approx(0.0, abs=1e-6)
    assert m["colourfulness_gap"] == pytest.approx(0.0, abs=1e-6)
    assert m["saturation"] == pytest.approx(m["saturation_target"])
    # the neutral pixels' own chroma is below the mask threshold
    assert 0.0 <= m["neutral_cast"] < 5.0


def test_numpy_and_torch_inputs_agree(photo: torch.Tensor) -> None:
    grey = to_grey(photo)
    a = colour_metrics(grey, photo)
    b = colour_metrics(grey[0].numpy(), photo[0].numpy().astype(np.float64))
    for key, value in a.items():
        assert b[key] == pytest.approx(value, rel=1e-4, abs=1e-4, nan_ok=True), key


def test_hue_rotation_raises_skin_hue_drift() -> None:
    skin = _skin_image()
    assert skin_mask(skin).all()
    same = colour_metrics(skin, skin)
    rotated = colour_metrics(_rotate_chroma(skin, 40.0), skin)
    assert same["skin_hue_drift"] == pytest.approx(0.0, abs=1e-4)
    assert rotated["skin_hue_drift"] > 20.0
    assert rotated["chroma_error"] > 5.0


def test_orange_skin_is_positive_saturation_drift() -> None:
    skin = _skin_image()
    boosted = colour_metrics(_rotate_chroma(skin, 0.0, gain=1.6), skin)
    washed = colour_metrics(_rotate_chroma(skin, 0.0, gain=0.5), skin)
    assert boosted["skin_sat_drift"] > 5.0
    assert washed["skin_sat_drift"] < -5.0
    assert boosted["skin_hue_drift"] < 3.0


def test_colour_cast_on_neutral_pixels() -> None:
    grey = torch.full((1, 3, 16, 16), 0.5)
    assert neutral_mask(grey).all()
    tinted = swap_luma(grey + torch.tensor([0.08, 0.0, -0.08]).view(1, 3, 1, 1), grey)
    assert colour_metrics(grey, grey)["neutral_cast"] == pytest.approx(0.0, abs=1e-3)
    assert colour_metrics(tinted, grey)["neutral_cast"] > 5.0
    # no skin in a grey image: its metrics are undefined, not zero
    assert math.isnan(colour_metrics(tinted, grey)["skin_sat_drift"])


def test_swap_luma_keeps_source_luma(photo: torch.Tensor) -> None:
    tinted = (photo * torch.tensor([1.1, 0.9, 0.8]).view(1, 3, 1, 1)).clamp(0, 1)
    out = swap_luma(tinted, photo)
    inside = (out > 0.01).all(dim=1, keepdim=True) & (out < 0.99).all(dim=1, keepdim=True)
    assert torch.allclose(luma(out)[inside], luma(photo)[inside], atol=1e-5)


def test_noise_stability_of_constant_model_is_perfect(photo: torch.Tensor) -> None:
    grey = to_grey(photo)
    colour = torch.tensor([0.7, 0.4, 0.2]).view(1, 3, 1, 1)
    assert noise_instability(lambda x: colour.expand_as(x), grey) == 0.0


def test_noise_instability_grows_with_input_sensitivity(photo: torch.Tensor) -> None:
    grey = to_grey(photo)

    def tint(strength: float) -> Callable[[torch.Tensor], torch.Tensor]:
        # the colour depends on the input pixel value: a crude input-sensitive colorizer
        def colorize(x: torch.Tensor) -> torch.Tensor:
            y = x[:, :1]
            return (x + strength * torch.cat((y - 0.5, 0.5 - y, 0 * y), dim=1)).clamp(0, 1)

        return colorize

    weak, strong = noise_instability(tint(0.1), grey), noise_instability(tint(0.8), grey)
    assert 0.0 < weak < strong
    assert noise_instability(tint(0.8), grey, seed=1) == pytest.approx(strong, rel=0.1)


def test_saturation_of_primaries() -> None:
    img = torch.zeros(1, 3, 1, 2)
    img[0, 0, 0, 0] = 1.0  # pure red: saturation 1
    img[0, :, 0, 1] = 0.5  # grey: saturation 0
    assert mean_saturation(img) == pytest.approx(0.5)


def test_bad_shapes_name_the_function_and_argument() -> None:
    with pytest.raises(
        ValueError, match=r"colour_metrics: pred_rgb01 and target_rgb01 must have the same shape"
    ):
        colour_metrics(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5))
    with pytest.raises(ValueError, match=r"colourfulness: rgb01 must be RGB"):
        colourfulness(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"colourfulness_per_image: rgb01 must be RGB"):
        colourfulness_per_image(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"noise_instability: sigma must be in"):
        noise_instability(lambda x: x, torch.zeros(1, 3, 4, 4), sigma=0.0)


def test_generator_colorizer_undoes_the_normalisation(photo: torch.Tensor) -> None:
    grey = to_grey(photo)
    identity = torch.nn.Identity()  # a "network" that returns its normalised input
    out = generator_colorizer(identity, batch_size=1)(grey.repeat(3, 1, 1, 1))
    assert out.shape == (3, *grey.shape[1:])
    assert torch.allclose(out, grey.expand(3, -1, -1, -1), atol=1e-6)
    assert (
        noise_instability(generator_colorizer(identity), grey) < 1e-3
    )  # grey in, grey out: no chroma to move
