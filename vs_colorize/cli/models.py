"""``vs-colorize models``: the registry models installed in the cache and which one is the default.

The one subcommand that prints to stdout (it is a listing, not a render).
"""

from __future__ import annotations

import argparse

from ..core import cache
from ..core.cli_flags import add_common_flags, examples
from ..core.contract import ContractError, read_model_info
from ..models import DEFAULT_CHAIN, registry_candidates
from .errors import EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "models",
        help="list the registry models found in the cache and the default",
        **examples("vs-colorize models", "vs-colorize-export deoldify video && vs-colorize models"),
    )
    add_common_flags(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    rows = [
        (n, [p for p in registry_candidates(n, "fp32", "onnx") if p.is_file()]) for n in cache.REGISTRY_NAMES
    ]
    installed = {name for name, found in rows if found}
    default = next((n for n in DEFAULT_CHAIN if n in installed), None)
    print(f"model cache: {cache.cache_dir() / 'models'}")
    for name, found in rows:
        mark = "*" if name == default else " "
        if not found:
            print(f"{mark} {name:<9} not installed")
        for path in found:
            try:
                desc = read_model_info(path).describe()
            except (ContractError, OSError) as exc:
                desc = f"unusable: {exc}"
            print(f"{mark} {name:<9} {path}  ({desc})")
    print(f"default (model=None): {default or 'none installed'}")
    return EXIT_OK
