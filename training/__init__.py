"""Training package: the networks (``vs_colorize.training.archs``), checkpoints and the NoGAN pipeline."""
