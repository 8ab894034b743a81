"""Command line for SR training and evaluation: ``python -m vs_colorize.training.sr {train,evaluate} ...``.

``add_arguments(parser)`` / ``run(args)`` let the project's ``vs-colorize-train`` mount it as a subcommand.
Exit codes as ``vs_colorize.training.exits``: an ``--out`` that cannot be written or an unsafe ``--feature-loss`` file is
2, an I/O error during the run 1; each failure is one line on stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys

from vs_colorize.core.percentile import DEFAULT_PMAX, DEFAULT_PMIN

from ..exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError, check_writable_dir
from .crappify import SRCrappifyConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``train`` and ``evaluate`` sub-commands to ``parser``."""
    sub = parser.add_subparsers(dest="sr_command", required=True)
    t = sub.add_parser("train", help="train a 3-frame (or single-frame) SR model on crappified tuples")
    t.add_argument("data", nargs="+", help="training sequences: TIFF stacks, frame folders or videos")
    t.add_argument("--out", required=True, help="output directory (checkpoint.pt, config.json, history.json)")
    t.add_argument("--window", type=int, default=3, choices=(1, 3), help="input frames (default 3)")
    t.add_argument("--scale", type=int, default=4, choices=(2, 4), help="upscaling factor (default 4)")
    t.add_argument("--width", type=int, default=32, help="stem channels, 8..256 (default 32)")
    t.add_argument("--depth", type=int, default=2, help="encoder levels, 1..4 (default 2)")
    t.add_argument("--self-attention", action="store_true", help="self-attention at the deepest level")
    t.add_argument("--channel", type=int, default=1, help="channel of RGB frames; -1 = luma (default 1)")
    t.add_argument("--crop", type=int, default=64, help="HR crop side (default 64)")
    t.add_argument("--batch", type=int, default=8, help="tuples per step (default 8)")
    t.add_argument("--steps", type=int, default=300, help="optimiser steps (default 300)")
    t.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    t.add_argument("--loss", default="l1", choices=("l1", "mse"), help="pixel loss (default l1)")
    t.add_argument("--stability", type=float, default=1.0, help="λ of the consistency term (default 1)")
    t.add_argument(
        "--pair",
        default="noise",
        choices=("noise", "adjacent"),  # data.PAIRS; data imports torch, which --help does not need
        help="second copy of each sample: noise (the same tuple, crappified again; default) or adjacent "
        "(the neighbouring tuple; the consistency term then compares the two errors)",
    )
    t.add_argument(
        "--feature-loss",
        metavar="VGG",
        help="add DeOldify's VGG16-BN feature loss to the fit terms: imagenet | PATH | random",
    )
    t.add_argument(
        "--silent-neighbours",
        action="store_true",
        help="start a 3-frame network with the weights that read frames t-1 and t+1 at zero",
    )
    t.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    t.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own, all physical cores)")
    t.add_argument("--pmin", type=float, default=DEFAULT_PMIN, help="low percentile of the normalisation (2)")
    t.add_argument(
        "--pmax", type=float, default=DEFAULT_PMAX, help="high percentile of the normalisation (99.8)"
    )
    t.add_argument(
        "--no-normalize",
        action="store_true",
        help="raw [0, 1] intensities instead of percentile normalisation",
    )
    for f in SRCrappifyConfig.__dataclass_fields__.values():
        if f.name != "scale":
            t.add_argument(
                "--" + f.name.replace("_", "-"), type=float, default=f.default, help=f"crappifier {f.name}"
            )
    e = sub.add_parser("evaluate", help="PSNR/SSIM/flicker of bicubic vs single vs multi-frame models")
    e.add_argument("sequences", nargs="+", help="held-out sequences")
    e.add_argument("--multi", required=True, help="3-frame checkpoint.pt")
    e.add_argument("--single", help="single-frame checkpoint.pt for comparison")
    e.add_argument("--out", required=True, help="output directory (metrics.json, metrics.md, figure.png)")
    e.add_argument("--channel", type=int, default=1, help="channel of RGB frames; -1 = luma (default 1)")
    e.add_argument("--frames", type=int, help="only the first N frames of each sequence")
    e.add_argument("--seed", type=int, default=1234, help="crappifier seed (default 1234)")
    e.add_argument("--clean", action="store_true", help="LR by plain area downsampling (no crappifier noise)")
    e.add_argument(
        "--keep-duplicates",
        action="store_true",
        help="keep frames that repeat the previous one bit for bit (default: drop them; they are no new acquisition)",
    )


def run(args: argparse.Namespace) -> int:
    """Execute a parsed ``train`` / ``evaluate`` command; returns the exit status."""
    from ..archs.safe_load import UnsafeFileError, load_weights
    from ..archs.sr import SRConfig

    channel = None if args.channel < 0 else args.channel
    if args.sr_command == "train" and args.feature_loss not in (None, "imagenet", "random"):
        try:  # read safely before anything runs (the loss loads it again)
            load_weights(args.feature_loss, "sr train: --feature-loss")
        except (UnsafeFileError, FileNotFoundError) as exc:
            raise CommandError(EXIT_USAGE, str(exc)) from None
    check_writable_dir(args.out, f"sr {args.sr_command}: --out")
    if args.sr_command == "train":
        from .train import SRTrainConfig, train

        crap = SRCrappifyConfig(
            scale=args.scale,
            **{f: getattr(args, f) for f in SRCrappifyConfig.__dataclass_fields__ if f != "scale"},
        )
        cfg = SRTrainConfig(
            data=tuple(args.data),
            out=args.out,
            model=SRConfig(
                window=args.window,
                scale=args.scale,
                width=args.width,
                depth=args.depth,
                self_attention=args.self_attention,
            ),
            crappify=crap,
            channel=channel,
            crop=args.crop,
            batch=args.batch,
            steps=args.steps,
            feature_loss=args.feature_loss,
            lr=args.lr,
            loss=args.loss,
            stability=args.stability,
            pair=args.pair,
            silent_neighbours=args.silent_neighbours,
            seed=args.seed,
            threads=args.threads,
            normalize=None if args.no_normalize else (args.pmin, args.pmax),
        )
        result = train(cfg)
        logging.getLogger("vs_colorize.training.sr").info(
            "wrote %s in %.0f s", result["checkpoint"], result["seconds"]
        )
        return EXIT_OK
    from .evaluate import evaluate, markdown_table

    results = evaluate(
        args.sequences,
        multi=args.multi,
        single=args.single,
        out=args.out,
        channel=channel,
        frames=args.frames,
        seed=args.seed,
        clean=args.clean,
        keep_duplicates=args.keep_duplicates,
    )
    sys.stderr.write(markdown_table(results))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m vs_colorize.training.sr``."""
    parser = argparse.ArgumentParser(prog="python -m vs_colorize.training.sr", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return run(args)
    except CommandError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.code
    except (ValueError, FileNotFoundError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:
        sys.stderr.write(f"error: sr {args.sr_command}: {exc}\n")
        return EXIT_FAILED
