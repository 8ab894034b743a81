"""Training package: the networks (``training.archs``), checkpoints and the NoGAN pipeline."""
