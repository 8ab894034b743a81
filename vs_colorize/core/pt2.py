"""Check a ``torch.export`` archive (``.pt2``) before torch reads it, so that loading a model never runs code.

``torch.export.load`` is not safe on files from strangers: it unpickles the archive's sample inputs (falling
back to ``weights_only=False`` when the safe unpickler refuses them), unpickles weights and constants flagged
``use_pickle`` with ``weights_only=False``, loads compiled AOTInductor libraries, hands the symbolic shape
strings to ``sympy.sympify`` (which is ``eval``), ``exec``-s the shape guards when the module is built, and
resolves graph call targets by name anywhere under ``torch``. :func:`safe_pt2_bytes` reads the archive once
and returns a copy that torch can load without any of that:

- only the members ``torch.export.save`` writes for one plain program are allowed (no AOTInductor code,
  no legacy pickled ``.pt`` members, no custom or opaque objects, no extra files);
- every weight and constant must be raw tensor bytes (``use_pickle`` false);
- the sample inputs (a pickle, never needed to run the program) are left out, so torch unpickles nothing;
- graph calls must be ATen operators or plain arithmetic, symbolic shapes must be sympy constructor
  expressions over numbers and symbol names, guards must be comparisons of input sizes, and no string may
  hold control characters (which could end a comment in the code torch generates).

Anything else is refused with :class:`Pt2Error` naming the member. The check uses only the standard library;
the caller passes the returned bytes to ``torch.export.load(io.BytesIO(...))``.
"""

from __future__ import annotations

import ast
import io
import json
import os
import pickletools
import re
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Pt2Error", "safe_pt2_bytes"]

#: Members of the archive (below its root folder) and what is allowed in them.
_MODEL = "models/model.json"
_WEIGHTS_CONFIG = "data/weights/model_weights_config.json"
_CONSTANTS_CONFIG = "data/constants/model_constants_config.json"
_SAMPLE_INPUTS = "data/sample_inputs/model.pt"
_FIXED = frozenset(
    {"archive_format", "archive_version", "byteorder", ".data/version", ".data/serialization_id"}
    | {_MODEL, _WEIGHTS_CONFIG, _CONSTANTS_CONFIG, _SAMPLE_INPUTS}
)
_WEIGHT = re.compile(r"data/weights/weight_\d+")
_CONSTANT = re.compile(r"data/constants/tensor_\d+")

#: Graph call targets besides ``torch.ops.aten.<op>.<overload>``: the arithmetic export emits on sizes.
_ATEN = re.compile(r"torch\.ops\.aten\.[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*")
_ARITHMETIC = frozenset(
    [f"_operator.{n}" for n in ("getitem", "add", "sub", "mul", "floordiv", "truediv", "mod", "pow", "neg")]
    + [f"_operator.{n}" for n in ("eq", "ne", "lt", "le", "gt", "ge", "and_", "or_", "not_")]
    + [f"torch.{n}" for n in ("sym_float", "sym_int", "sym_max", "sym_min", "sym_not", "sym_ite", "sym_sqrt")]
    + [f"math.{n}" for n in ("ceil", "floor", "trunc", "sqrt")]
)
#: Names a symbolic shape (``expr_str``, a sympy ``srepr``) may call: sympy's number, arithmetic and logic
#: constructors and torch's integer functions (``torch.utils._sympy.functions``).
# fmt: off
_SYMPY_NAMES = frozenset({
    "Symbol", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "Max", "Min", "Abs", "Mod", "floor",
    "ceiling", "sqrt", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "Equality", "Unequality", "StrictLessThan",
    "StrictGreaterThan", "LessThan", "GreaterThan", "And", "Or", "Not", "true", "false", "BooleanTrue",
    "BooleanFalse", "oo", "zoo", "Infinity", "NegativeInfinity", "FloorDiv", "ModularIndexing", "Where",
    "PythonMod", "CleanDiv", "CeilToInt", "FloorToInt", "CeilDiv", "LShift", "RShift", "PowByNatural",
    "FloatPow", "FloatTrueDiv", "IntTrueDiv", "IsNonOverlappingAndDenseIndicator", "TruncToFloat",
    "TruncToInt", "RoundToInt", "RoundDecimal", "ToFloat", "Identity",
})
_GUARD_OPS = (
    ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.Pow, ast.USub, ast.UAdd, ast.Not, ast.And, ast.Or,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
)
# fmt: on
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: What ``torch.save`` of plain tensors references (read from the opcodes, never unpickled).
_TENSOR_GLOBALS = re.compile(
    r"collections OrderedDict|torch\._utils _rebuild_tensor_v2|torch [A-Za-z0-9]*Storage"
)
_IMPORTING_OPS = frozenset({"STACK_GLOBAL", "INST", "OBJ", "EXT1", "EXT2", "EXT4"})


class Pt2Error(ValueError):
    """A ``.pt2`` file that is not a plain ``torch.export`` program, or holds something that could run code."""


def safe_pt2_bytes(path: str | os.PathLike[str], *, func: str, arg: str = "model") -> bytes:
    """Read the ``torch.export`` archive at ``path`` and return a copy that loads without running code.

    Args:
        path: the ``.pt2`` file.
        func: the public function named in error messages.
        arg: the argument that named the file, for error messages.

    Returns:
        The archive's bytes with the sample inputs emptied; pass them to ``torch.export.load(io.BytesIO(...))``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        Pt2Error: not a zip archive, an unknown or unsafe member, pickled payloads, calls outside ATen,
            or shape expressions that are not plain arithmetic.
    """
    where = f"{func}: {arg} {os.fspath(path)!r}"
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{where} does not exist")

    def refuse(why: str) -> Pt2Error:
        return Pt2Error(
            f"{where} is refused: {why}; only plain torch.export programs (vs_colorize.export.to_pt2) load"
        )

    try:
        with zipfile.ZipFile(path) as src:
            return _copy(src, refuse)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise refuse(f"not a readable zip archive ({exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise refuse(f"a metadata member is not valid UTF-8 JSON ({exc})") from None


def _copy(src: zipfile.ZipFile, refuse: Callable[[str], Pt2Error]) -> bytes:
    infos = src.infolist()
    roots = {i.filename.split("/", 1)[0] for i in infos}
    if len(roots) != 1 or any("/" not in i.filename for i in infos):
        raise refuse("members are not all under one root folder")
    root = roots.pop()
    names = {i.filename[len(root) + 1 :] for i in infos}
    for name in sorted(names):
        if not (name in _FIXED or _WEIGHT.fullmatch(name) or _CONSTANT.fullmatch(name)):
            raise refuse(f"unexpected member {name!r}")
    for needed in (_MODEL, _WEIGHTS_CONFIG, _CONSTANTS_CONFIG, "archive_format"):
        if needed not in names:
            raise refuse(f"member {needed!r} is missing")
    if src.read(f"{root}/archive_format") != b"pt2":
        raise refuse("archive_format is not 'pt2'")
    for config, folder, pattern in (
        (_WEIGHTS_CONFIG, "data/weights/", _WEIGHT),
        (_CONSTANTS_CONFIG, "data/constants/", _CONSTANT),
    ):
        _check_payloads(json.loads(src.read(f"{root}/{config}")), config, folder, pattern, names, refuse)
    _check_program(json.loads(src.read(f"{root}/{_MODEL}")), refuse)
    if _SAMPLE_INPUTS in names:
        _check_sample_inputs(src.read(f"{root}/{_SAMPLE_INPUTS}"), refuse)

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in infos:
            name = info.filename[len(root) + 1 :]
            dst.writestr(info.filename, b"" if name == _SAMPLE_INPUTS else src.read(info))
    return out.getvalue()


def _check_payloads(
    config: Any,
    member: str,
    folder: str,
    pattern: re.Pattern[str],
    names: set[str],
    refuse: Callable[[str], Pt2Error],
) -> None:
    entries = config.get("config") if isinstance(config, dict) else None
    if not isinstance(entries, dict):
        raise refuse(f"{member} has no 'config' mapping")
    for fqn, meta in entries.items():
        if not isinstance(meta, dict):
            raise refuse(f"{member}: entry {fqn!r} is not a mapping")
        if meta.get("use_pickle") is not False:
            raise refuse(
                f"{member}: {fqn!r} is stored as a pickle (use_pickle), which can run code when loaded"
            )
        path = meta.get("path_name")
        if not isinstance(path, str) or not pattern.fullmatch(folder + path) or folder + path not in names:
            raise refuse(f"{member}: {fqn!r} points at {path!r}, not a raw tensor member of the archive")


def _check_sample_inputs(data: bytes, refuse: Callable[[str], Pt2Error]) -> None:
    """Refuse sample inputs that are more than tensors (they are dropped either way, never unpickled)."""
    if not data:
        return
    what = f"{_SAMPLE_INPUTS} (a pickle torch would unpickle)"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as inner:
            pickles = [n for n in inner.namelist() if n.endswith("/data.pkl")]
            if len(pickles) != 1:
                raise refuse(f"{what} is not a torch.save archive")
            ops = list(pickletools.genops(inner.read(pickles[0])))
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        if isinstance(exc, Pt2Error):
            raise
        raise refuse(f"{what} is not a readable torch.save archive ({exc})") from None
    for op, arg, _ in ops:
        if op.name in _IMPORTING_OPS or (op.name == "GLOBAL" and not _TENSOR_GLOBALS.fullmatch(str(arg))):
            found = repr(arg) if op.name == "GLOBAL" else f"opcode {op.name}"
            raise refuse(f"{what} references {found}, not only tensors; unpickling it could run code")


def _check_program(program: Any, refuse: Callable[[str], Pt2Error]) -> None:
    graph = program.get("graph_module", {}).get("graph") if isinstance(program, dict) else None
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
        raise refuse(f"{_MODEL} has no graph")
    for value in _strings(program):
        if _CONTROL.search(value):
            raise refuse(f"{_MODEL} holds a string with control characters: {value[:60]!r}")
    for node in _nodes(program):
        target = node.get("target")
        if not isinstance(target, str) or not (_ATEN.fullmatch(target) or target in _ARITHMETIC):
            raise refuse(
                f"{_MODEL}: the graph calls {target!r}; only ATen operators and arithmetic are loaded"
            )
    for expr in _values_of(program, "expr_str"):
        if not isinstance(expr, str) or not _is_sympy_expr(expr):
            raise refuse(f"{_MODEL}: symbolic shape {expr!r} is not a plain sympy expression")
    guards = program.get("guards_code", [])
    if not isinstance(guards, list) or not all(isinstance(g, str) and _is_guard(g) for g in guards):
        raise refuse(f"{_MODEL}: guards_code {guards!r} is not a list of input-size comparisons")


def _strings(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield key
            yield from _strings(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _strings(value)


def _nodes(obj: Any) -> Iterator[dict[str, Any]]:
    """Every graph node (a mapping with ``target`` and ``inputs``), subgraphs included."""
    if isinstance(obj, dict):
        if "target" in obj and "inputs" in obj:
            yield obj
        for value in obj.values():
            yield from _nodes(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _nodes(value)


def _values_of(obj: Any, key: str) -> Iterator[Any]:
    if isinstance(obj, dict):
        for k, value in obj.items():
            if k == key:
                yield value
            else:
                yield from _values_of(value, key)
    elif isinstance(obj, list):
        for value in obj:
            yield from _values_of(value, key)


def _parse(text: str) -> ast.expr | None:
    try:
        return ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return None


def _is_sympy_expr(text: str) -> bool:
    """A sympy ``srepr``: calls of :data:`_SYMPY_NAMES` on numbers, strings, booleans and such calls."""

    def ok(node: ast.expr) -> bool:
        if isinstance(node, ast.Constant):
            value = node.value
            return isinstance(value, int | float | bool) or (isinstance(value, str) and _is_name(value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return ok(node.operand)
        if isinstance(node, ast.Name):
            return node.id in _SYMPY_NAMES
        if isinstance(node, ast.Call):
            return (
                isinstance(node.func, ast.Name)
                and node.func.id in _SYMPY_NAMES
                and all(ok(a) for a in node.args)
                and all(k.arg is not None and ok(k.value) for k in node.keywords)
            )
        return False

    tree = _parse(text)
    return tree is not None and ok(tree)


def _is_guard(text: str) -> bool:
    """Arithmetic and comparisons of integers and input sizes: ``L['x'].size()[2] % 16 == 0``."""

    def ok(node: ast.AST) -> bool:
        match node:
            case ast.Constant(value=value):
                return isinstance(value, int | float | bool)
            case ast.BinOp(left=left, op=op, right=right):
                return isinstance(op, _GUARD_OPS) and ok(left) and ok(right)
            case ast.UnaryOp(op=op, operand=operand):
                return isinstance(op, _GUARD_OPS) and ok(operand)
            case ast.BoolOp(op=op, values=values):
                return isinstance(op, _GUARD_OPS) and all(ok(v) for v in values)
            case ast.Compare(left=left, ops=ops, comparators=rest):
                return all(isinstance(o, _GUARD_OPS) for o in ops) and ok(left) and all(ok(c) for c in rest)
            case ast.Subscript(value=ast.Call() as call, slice=ast.Constant(value=int())):
                return _is_size_call(call)
        return False

    tree = _parse(text)
    return tree is not None and ok(tree)


def _is_size_call(call: ast.Call) -> bool:
    """``L['name'].size()`` or ``.stride()`` (an input placeholder's shape)."""
    match call:
        case ast.Call(
            func=ast.Attribute(
                value=ast.Subscript(value=ast.Name(id="L"), slice=ast.Constant(value=str(name))),
                attr="size" | "stride",
            ),
            args=[],
            keywords=[],
        ):
            return _is_name(name)  # torch pastes guards into generated code: no quotes may hide in a name
    return False


def _is_name(text: str) -> bool:
    return _IDENTIFIER.fullmatch(text) is not None
