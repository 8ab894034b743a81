"""The tool commands in a runtime-only install: one line naming the extra, exit 2 — never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vs_colorize import tools


def _run(entry: str, blocked: tuple[str, ...], *args: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        f"sys.argv = ['prog', *{list(args)!r}]\n"
        f"from vs_colorize.tools import {entry}\n"
        f"sys.exit({entry}())\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("entry", "prog", "extra"),
    [("export_main", "vs-colorize-export", "export"), ("train_main", "vs-colorize-train", "training")],
)
def test_missing_torch_names_the_extra(entry: str, prog: str, extra: str) -> None:
    out = _run(entry, ("torch",), "--help")
    assert out.returncode == tools.EXIT_MISSING_EXTRA
    assert out.stdout == ""
    assert out.stderr.splitlines() == [
        f'{prog}: needs the [{extra}] extra (torch not installed): pip install "vs-colorize[{extra}]"'
    ]


@pytest.mark.parametrize("entry", ["export_main", "train_main"])
def test_with_the_extra_the_command_runs(entry: str) -> None:
    out = _run(entry, (), "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: vs-colorize-")


def test_missing_modules_only_looks() -> None:
    assert tools.missing_modules(["json", "no_such_module_here"]) == ["no_such_module_here"]


@pytest.mark.parametrize("module", ["vs_colorize.training.cli", "vs_colorize.export.cli"])
def test_help_imports_no_torch(module: str) -> None:
    """``--help`` builds the whole parser without torch: the heavy modules load when a command runs."""
    code = (
        "import contextlib, io, sys\n"
        f"import {module} as cli\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    cli.main(['--help'])\n"
        "print(sorted(m for m in ('torch', 'onnx', 'vapoursynth') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
