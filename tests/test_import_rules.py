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
PACKAGES = ("vs_colorize", "export", "training")

#: What may cross from one package into another (module-level or lazy), and why.
ALLOWED_CROSSING: dict[str, dict[str, str]] = {
    "export": {
        "vs_colorize._version": "the package version written into artifacts",
        "vs_colorize.core": "the artifact contract, cache layout and atomic IO (the pure core)",
        "vs_colorize.trt_engine": "engine building is shared with the runtime's engine cache (numpy only)",
        "training.archs": "the networks that are exported",
        "training.checkpoint": "reading the checkpoints that are exported",
        "training.sr.checkpoint": "reading SR training checkpoints",
    },
    "training": {
        "vs_colorize._version": "the package version written into checkpoints",
        "vs_colorize.core": "atomic writes of checkpoints, configs and reports",
        "vs_colorize.tiling": "tiled evaluation of the SR model, exactly as the filter tiles (numpy only)",
    },
    "vs_colorize": {},
}

#: Modules that must never be imported from a room, lazily or not.
NEVER: dict[str, tuple[str, ...]] = {
    "vs_colorize.core": ("vapoursynth", "torch", "onnxruntime", "tensorrt", "av", "vs_colorize.filters"),
    "vs_colorize": ("training", "export"),
    "training": ("vapoursynth", "export", "vs_colorize.filters", "vs_colorize.cli", "vs_colorize.backends"),
    "export": ("vapoursynth", "vs_colorize.filters", "vs_colorize.cli", "vs_colorize.backends"),
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
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


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
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


_ALL_MODULES = {_module_name(p) for p in _source_files()}
_PACKAGE_MODULES = {_module_name(p) for p in _source_files() if p.name == "__init__.py"}
_ALL_IMPORTS = [imp for p in _source_files() for imp in _imports(p)]


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _room(module: str, rooms: object) -> str | None:
    """The most specific room (key of ``rooms``) that holds ``module``."""
    best = None
    for room in rooms:  # type: ignore[attr-defined]
        if _within(module, room) and (best is None or len(room) > len(best)):
            best = room
    return best


def _fmt(imp: Import) -> str:
    return f"{imp.module} (line {imp.line}) imports {imp.target}{' lazily' if imp.lazy else ''}"


def test_the_tree_was_read() -> None:
    # guards the test itself: a parser that found nothing would pass every rule below
    assert {"vs_colorize.core.contract", "export.onnx", "training.archs.unet"} <= _ALL_MODULES
    assert any(i.module == "export.onnx" and i.target == "vs_colorize.core.contract" for i in _ALL_IMPORTS)
    assert any(i.module == "vs_colorize.backends" and i.lazy for i in _ALL_IMPORTS)


def test_never_imported() -> None:
    bad = []
    for imp in _ALL_IMPORTS:
        for room, banned in NEVER.items():
            if _within(imp.module, room) and any(_within(imp.target, b) for b in banned):
                bad.append(_fmt(imp))
    assert not bad, "forbidden imports (DESIGN.md §1):\n" + "\n".join(sorted(set(bad)))


def test_cross_package_arrows_are_listed() -> None:
    bad = []
    for imp in _ALL_IMPORTS:
        src = imp.module.split(".")[0]
        dst = imp.target.split(".")[0]
        if dst not in PACKAGES or dst == src:
            continue
        if not any(_within(imp.target, allowed) for allowed in ALLOWED_CROSSING[src]):
            bad.append(_fmt(imp))
    assert not bad, "cross-package imports not in ALLOWED_CROSSING:\n" + "\n".join(sorted(set(bad)))


def test_heavy_engines_load_lazily() -> None:
    bad = [
        _fmt(imp)
        for imp in _ALL_IMPORTS
        if not imp.lazy
        and (room := _room(imp.module, LAZY_ONLY)) is not None
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
        if _within(i.module, "training.archs")
        and _within(i.target, "training")
        and not _within(i.target, "training.archs")
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
    "modules", ["export.cli, training.cli", "vs_colorize.core.contract, vs_colorize.core.fileio"]
)
def test_pure_side_imports_without_vapoursynth(modules: str) -> None:
    """The acceptance check of issue 11: with VapourSynth unimportable, the export/training CLIs still import."""
    import subprocess

    code = f"import sys; sys.modules['vapoursynth'] = None; import {modules}; print('vapoursynth' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"  # only our None placeholder: nothing really loaded it
