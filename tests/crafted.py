"""Hostile model files for the safety tests: pickles and strings that create a marker file when run.

Every payload calls ``open(marker, "w")``; a loader is safe when the marker never appears.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


class Payload:
    """Unpickling this object runs ``open(marker, 'w')`` (what a real attack would swap for a shell)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def code(marker: Path) -> str:
    """A Python expression that creates ``marker``."""
    return f"__import__('builtins').open({str(marker)!r}, 'w')"


def torch_file(obj: object) -> bytes:
    """``torch.save(obj)`` as bytes (the zip format every torch loader reads)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def evil_torch_file(path: Path, marker: Path, *, nest: bool = True) -> Path:
    """A ``torch.save`` file whose state dict hides the payload among real tensors."""
    obj: object = {"weight": torch.zeros(2), "step": Payload(marker)} if nest else Payload(marker)
    path.write_bytes(torch_file(obj))
    return path


def rewrite_pt2(src: Path, dst: Path, edit: Callable[[dict[str, bytes]], None]) -> Path:
    """Copy the ``.pt2`` archive ``src`` to ``dst`` with ``edit`` applied to its members (name below the
    root folder → bytes); the metadata sidecar ``<src>.json`` is copied too."""
    with zipfile.ZipFile(src) as z:
        root = z.namelist()[0].split("/", 1)[0]
        members = {n.split("/", 1)[1]: z.read(n) for n in z.namelist()}
    edit(members)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(f"{root}/{name}", data)
    side = src.with_name(src.name + ".json")
    if side.exists():
        dst.with_name(dst.name + ".json").write_bytes(side.read_bytes())
    return dst


def _edit_json(members: dict[str, bytes], name: str, change: Callable[[Any], None]) -> None:
    obj = json.loads(members[name])
    change(obj)
    members[name] = json.dumps(obj).encode()


def _set_first(obj: Any, key: str, value: str) -> bool:
    """Set the first ``key`` found (depth first) in a JSON tree to ``value``."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else []
    for k, v in items:
        if k == key and isinstance(obj, dict):
            obj[k] = value
            return True
        if _set_first(v, key, value):
            return True
    return False


def _first_node(program: Any, prefix: str = "torch.ops.aten.") -> Any:
    return next(n for n in program["graph_module"]["graph"]["nodes"] if n["target"].startswith(prefix))


def pt2_attacks(marker: Path) -> dict[str, Callable[[dict[str, bytes]], None]]:
    """Name → member edit that plants a payload in one place ``torch.export.load`` reads."""

    def sample_inputs(m: dict[str, bytes]) -> None:
        m["data/sample_inputs/model.pt"] = torch_file(((Payload(marker),), {}))

    def pickled_weight(m: dict[str, bytes]) -> None:
        def change(cfg: Any) -> None:
            entry = next(iter(cfg["config"].values()))
            entry["use_pickle"] = True
            m["data/weights/" + entry["path_name"]] = torch_file(Payload(marker))

        _edit_json(m, "data/weights/model_weights_config.json", change)

    def opaque_constant(m: dict[str, bytes]) -> None:
        def change(cfg: Any) -> None:
            cfg["config"]["evil"] = {
                "path_name": "opaque_obj_0",
                "is_param": False,
                "use_pickle": True,
                "tensor_meta": None,
            }

        _edit_json(m, "data/constants/model_constants_config.json", change)
        m["data/constants/opaque_obj_0"] = pickle.dumps(Payload(marker))

    def legacy_weights(m: dict[str, bytes]) -> None:
        m["data/weights/model.pt"] = torch_file({"w": Payload(marker)})

    def guard(m: dict[str, bytes]) -> None:
        _edit_json(
            m, "models/model.json", lambda p: p.__setitem__("guards_code", [code(marker) + " is None"])
        )

    def symbolic_shape(m: dict[str, bytes]) -> None:
        _edit_json(m, "models/model.json", lambda p: _set_first(p, "expr_str", code(marker)))

    def stack_trace(m: dict[str, bytes]) -> None:  # "\r" ends the comment torch writes into generated code
        trace = f'File "x.py", line 1, in f\r{code(marker)}#\n    pass'
        _edit_json(m, "models/model.json", lambda p: _first_node(p)["metadata"].update(stack_trace=trace))

    def call_target(m: dict[str, bytes]) -> None:
        _edit_json(
            m, "models/model.json", lambda p: _first_node(p).update(target="torch.serialization.os.system")
        )

    def compiled_code(m: dict[str, bytes]) -> None:
        m["data/aotinductor/model/model.so"] = b"\x7fELF"

    return {
        "sample_inputs": sample_inputs,
        "pickled_weight": pickled_weight,
        "opaque_constant": opaque_constant,
        "legacy_weights": legacy_weights,
        "guard": guard,
        "symbolic_shape": symbolic_shape,
        "stack_trace": stack_trace,
        "call_target": call_target,
        "compiled_code": compiled_code,
    }
