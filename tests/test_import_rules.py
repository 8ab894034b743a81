"""The house rules of DESIGN.md §1, read from the code's imports (AST) — the one place the allowed arrows live.

Each rule names a room (a package prefix), what it may never import, and for the cross-package arrows the
exact modules it may import from another package. "Lazy" imports (inside a function, or under
``if TYPE_CHECKING:``) are told apart from module-level ones: heavy engines may only be imported lazily.
docs/architecture.md draws the same picture.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The three packages under their import names, and the folder each one lives in. The repository's
#: training/ and export/ folders are vs_colorize.training and vs_colorize.export (pyproject.toml).
PACKAGES: dict[str, Path] = {
    "vs_colorize": ROOT / "vs_colorize",
    "vs_colorize.training": ROOT / "training",
    "vs_colorize.export": ROOT / "export",
}

#: What may cross from one package into another (module-level or lazy), and why.
ALLOWED_CROSSING: dict[str, dict[str, str]] = {
    "vs_colorize.export": {
        "vs_colorize._version": "the package version written into artifacts",
        "vs_colorize.core": "the artifact contract, cache layout, atomic IO and the CLI flags (the pure core)",
        "vs_colorize.trt_engine": "engine building is shared with the runtime's engine cache (numpy only)",
        "vs_colorize.training.archs": "the networks that are exported",
        "vs_colorize.training.checkpoint": "reading the checkpoints that are exported",
    },
    "vs_colorize.training": {
        "vs_colorize._version": "the package version written into checkpoints",
        "vs_colorize.core": "atomic writes of checkpoints, configs and reports; the CLI flags",
        "vs_colorize.tiling": "tiled evaluation of the SR model, exactly as the filter tiles (numpy only)",
    },
    "vs_colorize": {},  # the runtime imports neither training nor export
}

#: Modules a package (or, for vs_colorize.core, a part of one) must never import, lazily or not.
NEVER: dict[str, tuple[str, ...]] = {
    "vs_colorize.core": ("vapoursynth", "torch", "onnxruntime", "tensorrt", "av", "vs_colorize.filters"),
    "vs_colorize": ("vs_colorize.training", "vs_colorize.export"),
    "vs_colorize.training": (
        "vapoursynth",
        "vs_colorize.export",
        "vs_colorize.filters",
        "vs_colorize.cli",
        "vs_colorize.backends",
    ),
    "vs_colorize.export": ("vapoursynth", "vs_colorize.filters", "vs_colorize.cli", "vs_colorize.backends"),
}

#: Heavy engines the runtime imports only when a backend or command first needs them (never at module level).
LAZY_ONLY: dict[str, tuple[str, ...]] = {
    "vs_colorize": ("torch", "onnxruntime", "tensorrt", "cuda", "onnx", "ray"),
}

#: Third-party modules the pure core may import at all (besides the standard library).
CORE_THIRD_PARTY = ("numpy", "onnx", "shtab")  # shtab: lazily, for shell completion scripts


@dataclass(frozen=True)
class Import:
    module: str  # importing module, dotted
    target: str  # imported module, dotted and absolute
    line: int
    lazy: bool


def _module_name(path: Path) -> str:
    """The import name of a source file (``training/cli.py`` is ``vs_colorize.training.cli``)."""
    for package, folder in sorted(PACKAGES.items(), key=lambda kv: -len(kv[0])):
        if path.is_relative_to(folder):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join(parts)
    raise AssertionError(f"{path} is in no package")


def _package(module: str) -> str | None:
    """Which of the three packages holds ``module`` (the most specific one), or None (third party)."""
    return max((p for p in PACKAGES if _within(module, p)), key=len, default=None)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> list[Import]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, True)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                continue  # annotations only; never executed
            elif isinstance(child, ast.Import):
                found.extend(Import(module, a.name, child.lineno, lazy) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join([*base, child.module] if child.module else base)
                else:
                    target = child.module or ""
                if child.module is None or target in _PACKAGE_MODULES:
                    # `from . import x` / `from pkg import sub`: each name may be a submodule
                    for a in child.names:
                        sub = f"{target}.{a.name}"
                        found.append(
                            Import(module, sub if sub in _ALL_MODULES else target, child.lineno, lazy)
                        )
                else:
                    found.append(Import(module, target, child.lineno, lazy))
            else:
                visit(child, lazy)

    visit(ast.parse(path.read_text(), filename=str(path)), False)
    return found


def _source_files() -> list[Path]:
    links = {PACKAGES["vs_colorize"] / "training", PACKAGES["vs_colorize"] / "export"}  # the import links
    return sorted(
        p
        for folder in PACKAGES.values()
        for p in folder.rglob("*.py")
        if not any(p.is_relative_to(link) for link in links)
    )


_ALL_MODULES = {_module_name(p) for p in _source_files()}
_PACKAGE_MODULES = {_module_name(p) for p in _source_files() if p.name == "__init__.py"}
_ALL_IMPORTS = [imp for p in _source_files() for imp in _imports(p)]


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _fmt(imp: Import) -> str:
    return f"{imp.module} (line {imp.line}) imports {imp.target}{' lazily' if imp.lazy else ''}"


def test_the_tree_was_read() -> None:
    # guards the test itself: a parser that found nothing would pass every rule below
    assert {
        "vs_colorize.core.contract",
        "vs_colorize.export.onnx",
        "vs_colorize.training.archs.unet",
    } <= _ALL_MODULES
    assert any(
        i.module == "vs_colorize.export.onnx" and i.target == "vs_colorize.core.contract"
        for i in _ALL_IMPORTS
    )
    assert any(i.module == "vs_colorize.backends" and i.lazy for i in _ALL_IMPORTS)


def _rooms(module: str) -> list[str]:
    """The keys of :data:`NEVER` that apply to ``module``: its package, and vs_colorize.core for the core."""
    rooms = [r for r in NEVER if r == _package(module)]
    return rooms + (["vs_colorize.core"] if _within(module, "vs_colorize.core") else [])


def test_never_imported() -> None:
    bad = []
    for imp in _ALL_IMPORTS:
        for room in _rooms(imp.module):
            if any(_within(imp.target, b) for b in NEVER[room]):
                bad.append(_fmt(imp))
    assert not bad, "forbidden imports (DESIGN.md §1):\n" + "\n".join(sorted(set(bad)))


def test_cross_package_arrows_are_listed() -> None:
    bad = []
    for imp in _ALL_IMPORTS:
        src, dst = _package(imp.module), _package(imp.target)
        if src is None or dst is None or dst == src:
            continue
        if not any(_within(imp.target, allowed) for allowed in ALLOWED_CROSSING[src]):
            bad.append(_fmt(imp))
    assert not bad, "cross-package imports not in ALLOWED_CROSSING:\n" + "\n".join(sorted(set(bad)))


def test_heavy_engines_load_lazily() -> None:
    bad = [
        _fmt(imp)
        for imp in _ALL_IMPORTS
        if not imp.lazy
        and (room := _package(imp.module)) in LAZY_ONLY
        and any(_within(imp.target, heavy) for heavy in LAZY_ONLY[room])
    ]
    assert not bad, "heavy engines imported at module level:\n" + "\n".join(bad)


def test_core_is_pure() -> None:
    stdlib = sys.stdlib_module_names
    bad = []
    for imp in _ALL_IMPORTS:
        if not _within(imp.module, "vs_colorize.core"):
            continue
        top = imp.target.split(".")[0]
        ok = (
            top in stdlib
            or top in CORE_THIRD_PARTY
            or _within(imp.target, "vs_colorize.core")
            or imp.target == "vs_colorize._version"
        )
        if not ok:
            bad.append(_fmt(imp))
    assert not bad, "the pure core imports beyond the standard library, numpy and onnx:\n" + "\n".join(bad)


def test_archs_stand_alone() -> None:
    """training/archs holds plain networks: no training machinery (phases, losses, data) leaks in."""
    bad = [
        _fmt(i)
        for i in _ALL_IMPORTS
        if _within(i.module, "vs_colorize.training.archs")
        and _within(i.target, "vs_colorize.training")
        and not _within(i.target, "vs_colorize.training.archs")
    ]
    assert not bad, "\n".join(bad)


def test_no_import_circles() -> None:
    """Module-level imports between the project's modules form no cycle (lazy ones may point back)."""
    graph: dict[str, set[str]] = {m: set() for m in _ALL_MODULES}
    for imp in _ALL_IMPORTS:
        if not imp.lazy and imp.target in _ALL_MODULES and imp.target != imp.module:
            graph[imp.module].add(imp.target)
    # a package's __init__ importing its own submodules is how packages work, not a circle
    for pkg in _PACKAGE_MODULES:
        graph[pkg] = {t for t in graph[pkg] if not _within(t, pkg)}
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := walk(start)):
            pytest.fail("import circle: " + " -> ".join(cycle))


@pytest.mark.parametrize(
    "modules",
    [
        "vs_colorize.export.cli, vs_colorize.training.cli",
        "vs_colorize.export.cli, vs_colorize.training.cli",  # the folders themselves, from the checkout's root
        "vs_colorize.core.contract, vs_colorize.core.fileio",
    ],
)
def test_pure_side_imports_without_vapoursynth(modules: str) -> None:
    """The acceptance check of issue 11: with VapourSynth unimportable, the export/training CLIs still import."""
    import subprocess

    code = f"import sys; sys.modules['vapoursynth'] = None; import {modules}; print('vapoursynth' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"  # only our None placeholder: nothing really loaded it
