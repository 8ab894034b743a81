"""Named recipes: DeOldify's NoGAN settings per model (reference README §11, the training notebooks), ``tiny`` and
``demo``.

==========  ===================================================================================================
recipe      what it is
==========  ===================================================================================================
``stable``  ResNet-101 wide U-Net (nf_factor 2). Pretrain 64 px frozen (bs 88, 1e-3, pct_start 0.8) → 64 px
            unfrozen slice(3e-7, 3e-4) → 128 px (bs 20) slice(1e-7, 1e-4) → 192 px (bs 8, half an epoch)
            slice(5e-8, 5e-5). GAN: 192 px, bs 5, lr 2e-5, weights (1, 1.5), 3 % of the data; 1 + 3 cycles.
``video``   The stable network and schedule with DeOldify's ``noisify(p=0.8)`` on the inputs; GAN lr 5e-6 on
            2.2 % of the data; a single cycle (repeats add video glitches).
``artistic`` ResNet-34 deep U-Net (nf_factor 1.5), batch sizes 88/22/11; GAN bs 9, lr 1e-5, weights (1, 2);
            1 + 5 cycles.
``tiny``    A CPU smoke run: the tiny generator, a 16-wide critic, 64 px, two steps per pretraining stage, two
            cycles of fakes → critic → four GAN steps (critic threshold 0.7 so G and C alternate); random VGG
            features (no download).
``demo``    The bundled offline demo model (vs_colorize/assets, MODEL_CARD.md): the tiny generator from scratch
            (no pretrained encoder, random VGG features: nothing can be downloaded), unfrozen from the start;
            loss = feature loss + CIELAB chroma error ×5 + colourfulness hinge ×2 (docs/quality.md, ablation).
            Pretrain 64 px bs 16 slice(1e-3, 1e-3) 700 steps → 96 px bs 12 slice(3e-4, 6e-4) 250 steps →
            128 px bs 8 slice(1e-4, 2e-4) 300 steps (pct_start 0.2). One cycle: fakes for 8.5 % at 128 px, a
            32-wide critic 60 steps at 128 px (bs 16, lr 1e-3), GAN 200 steps at 128 px (bs 8, lr 3e-5, weights
            (1, 1.5)) with a generator checkpoint every 10 steps. About an hour on two CPU cores.
==========  ===================================================================================================

Every recipe saves generated images for 8.5 % of the data at 192 px, pretrains the critic for 6 epochs at 128 px
(bs 64, lr 1e-3) in the first cycle and 4 epochs at 192 px (bs 16, lr 1e-4) in later ones, and uses
``AdaptiveGANSwitcher(critic_thresh=0.65)``, Adam betas (0, 0.9), wd 1e-3 and a critic lr multiplier of 5.
"""

from __future__ import annotations

from collections.abc import Callable

from vs_colorize.training.config import (
    CrappifyConfig,
    CriticPretrainConfig,
    CriticStage,
    DataConfig,
    FakesConfig,
    GanConfig,
    GenPretrainConfig,
    GenStage,
    LossConfig,
    TrainConfig,
)


def _deoldify_stages(bs64: int, bs128: int, bs192: int) -> list[GenStage]:
    return [
        GenStage(size=64, batch_size=bs64, lr=(0.0, 1e-3), frozen=True, pct_start=0.8),
        GenStage(size=64, batch_size=bs64, lr=(3e-7, 3e-4)),
        GenStage(size=128, batch_size=bs128, lr=(1e-7, 1e-4)),
        GenStage(size=192, batch_size=bs192, lr=(5e-8, 5e-5), epochs=0.5),
    ]


def stable() -> TrainConfig:
    """DeOldify's Stable model (ColorizeTrainingStable.ipynb)."""
    return TrainConfig(
        recipe="stable",
        cycles=4,
        gen=GenPretrainConfig(arch="stable", stages=_deoldify_stages(88, 20, 8)),
        gan=GanConfig(batch_size=5, lr=2e-5, weights_gen=(1.0, 1.5), keep_pct=0.03),
    )


def video() -> TrainConfig:
    """DeOldify's Video model (ColorizeTrainingVideo.ipynb): stable plus noisify, gentler and shorter GAN."""
    return TrainConfig(
        recipe="video",
        cycles=1,
        data=DataConfig(crappify=CrappifyConfig(noise="noisify", noise_p=0.8)),
        gen=GenPretrainConfig(arch="video", stages=_deoldify_stages(88, 20, 8)),
        gan=GanConfig(batch_size=5, lr=5e-6, weights_gen=(1.0, 1.5), keep_pct=0.022),
    )


def artistic() -> TrainConfig:
    """DeOldify's Artistic model (ColorizeTrainingArtistic.ipynb)."""
    return TrainConfig(
        recipe="artistic",
        cycles=6,
        gen=GenPretrainConfig(arch="artistic", stages=_deoldify_stages(88, 22, 11)),
        gan=GanConfig(batch_size=9, lr=1e-5, weights_gen=(1.0, 2.0), keep_pct=0.03),
    )


def tiny() -> TrainConfig:
    """A few-second CPU run of every phase (tests, smoke checks); not a useful model."""
    return TrainConfig(
        recipe="tiny",
        seed=1234,
        cycles=2,
        checkpoint_every=1,
        log_every=1,
        image_every=2,
        data=DataConfig(val_pct=0.15, num_workers=0),
        loss=LossConfig(vgg_weights="random"),
        gen=GenPretrainConfig(
            arch="tiny",
            pretrained_encoder="none",
            stages=[
                GenStage(size=64, batch_size=4, lr=(0.0, 1e-3), frozen=True, pct_start=0.8, max_steps=2),
                GenStage(size=64, batch_size=4, lr=(3e-5, 3e-4), max_steps=2),
            ],
        ),
        fakes=FakesConfig(size=64, keep_pct=1.0, batch_size=4, max_images=8),
        critic=CriticPretrainConfig(
            arch={"nf": 16},
            first=CriticStage(size=64, batch_size=4, lr=1e-3, max_steps=2),
            later=CriticStage(size=64, batch_size=4, lr=1e-4, max_steps=2),
        ),
        # critic_thresh 0.7 (> ln 2, an untrained critic's loss) so that four steps alternate G and C.
        gan=GanConfig(size=64, batch_size=4, lr=1e-4, critic_thresh=0.7, max_steps=4, save_every_steps=2),
    )


def demo() -> TrainConfig:
    """The bundled offline demo model: the tiny generator trained from scratch on a 2-core CPU in about an hour.

    ``vs-colorize-train nogan --recipe demo --data ../shared/data/train256 --out RUN`` reproduces it.
    """
    return TrainConfig(
        recipe="demo",
        seed=2026,
        cycles=1,
        checkpoint_every=25,
        log_every=10,
        image_every=100,
        data=DataConfig(val_pct=0.1, num_workers=0),
        # the colour terms won the loss ablation (docs/quality.md): chroma error ×5, colourfulness hinge ×2
        loss=LossConfig(vgg_weights="random", chroma_weight=5.0, colourfulness_weight=2.0),
        gen=GenPretrainConfig(
            arch="tiny",
            pretrained_encoder="none",
            stages=[
                GenStage(size=64, batch_size=16, lr=(1e-3, 1e-3), pct_start=0.2, max_steps=700),
                GenStage(size=96, batch_size=12, lr=(3e-4, 6e-4), pct_start=0.2, max_steps=250),
                GenStage(size=128, batch_size=8, lr=(1e-4, 2e-4), pct_start=0.2, max_steps=300),
            ],
        ),
        fakes=FakesConfig(size=128, keep_pct=0.085, batch_size=8),
        critic=CriticPretrainConfig(
            arch={"nf": 32},
            first=CriticStage(size=128, batch_size=16, lr=1e-3, max_steps=60),
            later=CriticStage(size=128, batch_size=16, lr=1e-4, max_steps=60),
        ),
        gan=GanConfig(size=128, batch_size=8, lr=3e-5, max_steps=200, save_every_steps=10),
    )


RECIPES: dict[str, Callable[[], TrainConfig]] = {
    "stable": stable,
    "video": video,
    "artistic": artistic,
    "tiny": tiny,
    "demo": demo,
}


def get_recipe(name: str) -> TrainConfig:
    """A fresh :class:`TrainConfig` for recipe ``name`` (``stable``, ``video``, ``artistic``, ``tiny``, ``demo``)."""
    if name not in RECIPES:
        raise ValueError(f"get_recipe: name must be one of {sorted(RECIPES)}, got {name!r}")
    cfg = RECIPES[name]()
    cfg.validate()
    return cfg
