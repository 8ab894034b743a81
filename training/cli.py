"""``vs-colorize-train`` / ``python -m vs_colorize.training``: NoGAN training from the command line.

Subcommands::

    nogan            every phase: pretrain the generator, then per cycle save fakes → pretrain critic → GAN
    pretrain-gen     only the generator pretraining stages
    save-fakes       only the generated-image phase(s)           (--cycle N to pick one cycle)
    pretrain-critic  only critic pretraining                     (--cycle N)
    gan              only the GAN phase(s)                       (--cycle N)
    show-config      print the resolved config (JSON) of a recipe plus overrides, and exit
    pick             the inflection picker (vs_colorize.training.inflection) on a folder of GAN checkpoints
    sr               microscopy super-resolution: ``sr train`` / ``sr evaluate`` (vs_colorize.training.sr)

Examples::

    vs-colorize-train nogan --recipe tiny --data DIR [--data DIR2] --out RUN_DIR [--set key=value ...]
    vs-colorize-train nogan --out RUN_DIR --resume
    torchrun --nproc-per-node 8 -m vs_colorize.training nogan --recipe stable --data /imagenet/train --out RUN_DIR

A phase subcommand on a directory that already holds a run reuses its ``config.json``.

Exit codes (``vs_colorize.training.exits``, the same as ``vs-colorize``'s): 0 done, 1 the run failed (an I/O error such
as a full disk), 2 the command is wrong (arguments, an ``--out`` that cannot be written, an unsafe or missing
``--vgg-weights`` file), 3 the run to resume is unusable (its ``config.json`` cannot be read). Each failure
is one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from vs_colorize._version import __version__
from vs_colorize.core.cli_flags import add_common_flags, command_parser, log_level
from vs_colorize.training import inflection
from vs_colorize.training.config import TrainConfig, apply_overrides, load_config, to_dict
from vs_colorize.training.exits import (
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    check_writable_dir,
)
from vs_colorize.training.recipes import RECIPES, get_recipe
from vs_colorize.training.sr import cli as sr_cli

log = logging.getLogger("training")

COMMAND_HELP = {
    "nogan": "every phase: generator pretraining, then per cycle fakes -> critic -> GAN",
    "pretrain-gen": "generator pretraining (progressive sizes, frozen then unfrozen encoder)",
    "save-fakes": "render the critic's generated images",
    "pretrain-critic": "pretrain the critic (real vs generated)",
    "gan": "the GAN phase (adaptive critic-loss threshold, generator checkpoints)",
}
#: Command → the phase kinds it runs (``vs_colorize.training.phases.context.Kind`` values; strings keep ``--help`` light).
PHASE_COMMANDS: dict[str, tuple[str, ...]] = {
    "nogan": ("gen", "fakes", "critic", "gan"),
    "pretrain-gen": ("gen",),
    "save-fakes": ("fakes",),
    "pretrain-critic": ("critic",),
    "gan": ("gan",),
}


def _add_run_arguments(p: argparse.ArgumentParser, phase: bool) -> None:
    p.add_argument("--recipe", choices=sorted(RECIPES), help="recipe of a new run (default: stable)")
    p.add_argument(
        "--data", action="append", default=[], metavar="DIR", help="colour image folder (repeatable)"
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides", help="config override"
    )
    p.add_argument("--vgg-weights", metavar="imagenet|random|PATH", help="feature-loss VGG16-BN weights")
    if phase:
        p.add_argument("--out", type=Path, required=True, metavar="RUN_DIR", help="run directory")
        p.add_argument(
            "--resume", action="store_true", help="continue the run in RUN_DIR from its checkpoints"
        )
        p.add_argument("--cycle", type=int, help="only this NoGAN cycle (fakes/critic/gan phases)")
        p.add_argument(
            "--pick",
            type=Path,
            metavar="HOLDOUT_DIR",
            help="after each GAN phase, run the inflection picker on it",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(
        "vs-colorize-train",
        __version__,
        "DeOldify NoGAN training, the inflection picker and microscopy SR training.",
        "vs-colorize-train nogan --recipe tiny --data photos/ --out runs/smoke",
        "vs-colorize-train nogan --out runs/smoke --resume",
        "vs-colorize-train pick --ckpts runs/smoke/cycle0/gan --holdout val/ --out runs/smoke/pick",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in PHASE_COMMANDS:
        _add_run_arguments(sub.add_parser(name, help=COMMAND_HELP[name]), phase=True)
    _add_run_arguments(sub.add_parser("show-config", help="print the resolved config and exit"), phase=False)
    inflection.add_arguments(sub.add_parser("pick", help="choose the GAN checkpoint before quality turns"))
    sr_cli.add_arguments(sub.add_parser("sr", help="microscopy super-resolution: train / evaluate"))
    for command in sub.choices.values():
        add_common_flags(command)
    return parser


def _config_from_args(args: argparse.Namespace) -> TrainConfig:
    cfg = get_recipe(args.recipe or "stable")
    overrides = list(args.overrides)
    if args.data:
        overrides.append("data.dirs=" + json.dumps([str(Path(d).resolve()) for d in args.data]))
    if args.vgg_weights:
        overrides.append(f"loss.vgg_weights={args.vgg_weights}")
    return apply_overrides(cfg, overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=log_level(args),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _run(args)
    except CommandError as err:
        log.error("%s", err)
        return err.code
    except (ValueError, FileExistsError, FileNotFoundError, RuntimeError) as err:
        log.error("%s", err)
        return EXIT_USAGE
    except OSError as err:  # a full disk, a vanished mount: the run failed, say where in one line
        log.error("%s: %s", args.command, err)
        return EXIT_FAILED


def _run(args: argparse.Namespace) -> int:
    if args.command == "pick":
        return inflection.run(args)
    if args.command == "sr":
        return sr_cli.run(args)
    if args.command == "show-config":
        sys.stdout.write(json.dumps(to_dict(_config_from_args(args)), indent=2) + "\n")
        return EXIT_OK
    return _train(args)


def _train(args: argparse.Namespace) -> int:
    from vs_colorize.training import dist
    from vs_colorize.training.phases import execute, open_run
    from vs_colorize.training.phases.context import Kind

    out: Path = args.out
    saved = out / "config.json"
    existing = saved.exists()
    given = bool(args.recipe or args.data or args.overrides or args.vgg_weights)
    if args.resume and not existing:
        raise FileNotFoundError(f"{args.command}: --resume: no run in {str(out)!r} (config.json missing)")
    if existing and given:
        raise ValueError(
            f"{args.command}: {str(out)!r} already holds a run; its config.json is fixed (drop --recipe/--data/--set)"
        )
    if existing and args.command == "nogan" and not args.resume:
        raise FileExistsError(
            f"{args.command}: {str(out)!r} already holds a run; pass --resume to continue it"
        )
    cfg = _saved_config(args.command, saved) if existing else _config_from_args(args)
    if {"gen", "gan"} & set(PHASE_COMMANDS[args.command]):
        _check_vgg_weights(args.command, cfg.loss.vgg_weights)
    check_writable_dir(out, f"{args.command}: --out")
    info = dist.init_distributed(cfg.device)
    dist.barrier()  # every rank has looked at RUN_DIR before rank 0 writes into it
    run = open_run(cfg, out, info)
    if not run.info.is_main:
        logging.getLogger().setLevel(logging.WARNING)  # rank 0 reports progress for everyone
    handler = logging.FileHandler(out / "train.log") if run.info.is_main else logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    finished = False
    try:
        kinds = tuple(Kind(k) for k in PHASE_COMMANDS[args.command])
        execute(run, kinds, cycle=args.cycle, pick=args.pick)
        finished = True
    finally:
        run.logs.close()
        logging.getLogger().removeHandler(handler)
        handler.close()
        dist.cleanup(sync=finished)
    log.info("%s: done; outputs in %s", args.command, out)
    return EXIT_OK


def _saved_config(command: str, saved: Path) -> TrainConfig:
    """The run's ``config.json``; one line naming the file when it cannot be read."""
    try:
        return load_config(saved)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CommandError(
            EXIT_INPUT,
            f"{command}: run config {str(saved)!r} cannot be read ({type(exc).__name__}: {exc}); "
            "restore it, or start a new run in another --out",
        ) from None


def _check_vgg_weights(command: str, weights: str) -> None:
    """Read a ``--vgg-weights`` file safely before anything runs (it is loaded again by the loss)."""
    if weights in ("imagenet", "random"):
        return
    from vs_colorize.training.archs.safe_load import UnsafeFileError, load_weights

    try:
        load_weights(weights, f"{command}: --vgg-weights")
    except (UnsafeFileError, FileNotFoundError) as exc:
        raise CommandError(EXIT_USAGE, str(exc)) from None
