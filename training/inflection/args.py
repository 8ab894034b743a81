"""The ``vs-colorize-train pick`` arguments: imports nothing heavy, so ``--help`` stays fast."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``pick`` subcommand's arguments (``--ckpts``, ``--holdout``, ``--out`` and the tuning knobs)."""
    parser.add_argument("--ckpts", required=True, type=Path, help="folder of GAN-phase generator checkpoints")
    parser.add_argument("--holdout", required=True, type=Path, help="folder of held-out colour images")
    parser.add_argument(
        "--out", required=True, type=Path, help="report folder (gets a 'best' link to the pick)"
    )
    parser.add_argument("--size", type=int, default=128, help="render size, multiple of 16 (default 128)")
    parser.add_argument("--max-images", type=int, default=16, help="holdout images used (default 16)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default 8)")
    parser.add_argument(
        "--noise-sigma", type=float, default=0.03, help="grain of the stability test (default 0.03)"
    )
    parser.add_argument(
        "--patience", type=int, default=2, help="degraded checkpoints that make a turn (default 2)"
    )
    parser.add_argument(
        "--margin", type=float, default=0.03, help="score difference that is a tie (default 0.03)"
    )
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument(
        "--prefer-colour",
        action="store_true",
        help="add the score-only colourfulness_shortfall signal (prefers bolder healthy checkpoints)",
    )
