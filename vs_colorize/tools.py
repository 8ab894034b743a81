"""Console-script entry points of the tools that need an optional extra (``vs-colorize-export``,
``vs-colorize-train``).

A runtime-only install (``pip install "vs-colorize[cpu]"``) has the commands but not torch: rather than a
``ModuleNotFoundError`` traceback, the command says in one line which extra to install and exits with 2
(usage: the environment cannot run this command). Only ``importlib.util.find_spec`` is consulted, so the
check imports nothing heavy.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence

#: Exit status when the command's extra is not installed (as for a usage error).
EXIT_MISSING_EXTRA = 2


def missing_modules(modules: Sequence[str]) -> list[str]:
    """The top-level modules of ``modules`` that cannot be imported here (nothing is imported to find out)."""
    missing = []
    for name in modules:
        if name in sys.modules:
            if sys.modules[name] is None:  # blocked on purpose (tests, embedders)
                missing.append(name)
        elif importlib.util.find_spec(name) is None:
            missing.append(name)
    return missing


def _run(prog: str, module: str, extra: str, needs: Sequence[str]) -> int:
    missing = missing_modules(needs)
    if missing:
        print(
            f"{prog}: needs the [{extra}] extra ({', '.join(missing)} not installed): "
            f'pip install "vs-colorize[{extra}]"',
            file=sys.stderr,
        )
        return EXIT_MISSING_EXTRA
    main: Callable[[], int] = importlib.import_module(module).main
    return main()


def export_main() -> int:
    """``vs-colorize-export``."""
    return _run("vs-colorize-export", "vs_colorize.export.cli", "export", ("torch", "onnx", "onnxscript"))


def train_main() -> int:
    """``vs-colorize-train``."""
    return _run("vs-colorize-train", "vs_colorize.training.cli", "training", ("torch", "torchvision"))
