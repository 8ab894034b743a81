"""The export → runtime contract: what an artifact is, written into and read from ONNX ``metadata_props``.

This module is pure Python (no numpy, no onnx, no onnxruntime) so that ``export`` can write the metadata
and the runtime can read it back without either side importing the other's heavy dependencies.

Tensor layout (DESIGN.md §2):

* colorize: ``input`` float32 ``[N,3,H,W]`` RGB in [0,1] (grey replicated) → ``output`` float32 ``[N,3,H,W]``
  RGB in [0,1]. Normalisation, DeOldify's ``sigmoid·6−3`` range and de-normalisation live inside the graph.
* superres: ``input`` float32 ``[N,window,h,w]`` (frames t−1, t, t+1 of a GRAY clip in [0,1]) →
  ``output`` float32 ``[N,1,scale·h,scale·w]`` in [0,1]. A superres artifact with ``norm_pmin``/``norm_pmax``
  takes the window in percentile-normalised units instead (:mod:`vs_colorize.core.percentile`: ``lo``/``hi`` =
  those percentiles of the whole window) and its output is mapped back with the same ``lo``/``hi``; artifacts
  without them (the first ones) take [0,1] as above.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

INPUT_NAME = "input"
OUTPUT_NAME = "output"
PREFIX = "vs_colorize."

Kind = Literal["colorize", "superres"]
Precision = Literal["fp32", "fp16"]
KINDS: tuple[str, ...] = ("colorize", "superres")
PRECISIONS: tuple[str, ...] = ("fp32", "fp16")


class ContractError(ValueError):
    """An artifact's metadata is missing, malformed or does not fit the requested use."""


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """Self-description of an exported artifact.

    ``static_size`` is the (H, W) the graph was exported for, or None for a dynamic graph; then
    ``dynamic_range`` gives the (min, max) side length the export was checked for. ``multiple`` is the
    granularity every input side must have (16 for DeOldify-style generators run at ``16·render_factor``).
    ``norm_pmin``/``norm_pmax`` (superres only, both or neither): the per-window percentile normalisation the
    model was trained with; None = raw [0, 1] intensities.
    """

    kind: Kind
    arch: str
    precision: Precision = "fp32"
    static_size: tuple[int, int] | None = None
    dynamic_range: tuple[int, int] | None = None
    multiple: int = 16
    in_channels: int = 3
    out_channels: int = 3
    scale: int = 1
    window: int = 1
    source_sha256: str = ""
    package_version: str = ""
    opset: int = 0
    norm_pmin: float | None = None
    norm_pmax: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ContractError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.precision not in PRECISIONS:
            raise ContractError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if (self.static_size is None) == (self.dynamic_range is None):
            raise ContractError("exactly one of static_size and dynamic_range must be set")
        if self.dynamic_range is not None:
            lo, hi = self.dynamic_range
            if not 0 < lo <= hi:
                raise ContractError(f"dynamic_range must satisfy 0 < min <= max, got {self.dynamic_range}")
        if self.static_size is not None and min(self.static_size) <= 0:
            raise ContractError(f"static_size must be positive, got {self.static_size}")
        if self.multiple < 1 or self.scale < 1 or self.window < 1:
            raise ContractError("multiple, scale and window must be >= 1")
        if self.kind == "colorize" and (self.in_channels, self.out_channels, self.scale) != (3, 3, 1):
            raise ContractError("a colorize artifact maps 3 channels to 3 channels at scale 1")
        if self.kind == "superres" and (self.in_channels != self.window or self.out_channels != 1):
            raise ContractError(
                "a superres artifact takes `window` GRAY frames as channels and returns 1 channel"
            )

        if (self.norm_pmin is None) != (self.norm_pmax is None):
            raise ContractError("norm_pmin and norm_pmax must be set together")
        if self.norm_pmin is not None and self.norm_pmax is not None:
            if self.kind != "superres":
                raise ContractError(
                    "percentile normalisation (norm_pmin/norm_pmax) is for superres artifacts"
                )
            if not 0.0 <= self.norm_pmin < self.norm_pmax <= 100.0:
                raise ContractError(
                    f"norm percentiles must satisfy 0 <= pmin < pmax <= 100, got {self.norm_pmin}, {self.norm_pmax}"
                )

    @property
    def percentiles(self) -> tuple[float, float] | None:
        """``(norm_pmin, norm_pmax)``, or None for a model that takes raw [0, 1] intensities."""
        if self.norm_pmin is None or self.norm_pmax is None:
            return None
        return self.norm_pmin, self.norm_pmax

    @property
    def dynamic(self) -> bool:
        return self.static_size is None

    def accepts(self, height: int, width: int) -> bool:
        """Whether an input of this spatial size fits the exported graph."""
        if self.static_size is not None:
            return (height, width) == self.static_size
        assert self.dynamic_range is not None  # set exactly when static_size is not
        lo, hi = self.dynamic_range
        return all(lo <= s <= hi and s % self.multiple == 0 for s in (height, width))

    def shapes(self) -> str:
        """The input sizes the graph takes, in words: ``static 448x336`` (W×H) or ``sides 64..1024, multiple of 16``."""
        if self.static_size is not None:
            return f"static {self.static_size[1]}x{self.static_size[0]}"
        assert self.dynamic_range is not None  # __post_init__: exactly one of the two is set
        lo, hi = self.dynamic_range
        return f"sides {lo}..{hi}, multiple of {self.multiple}"

    def describe(self) -> str:
        """One line for logs and messages, e.g. ``colorize tiny fp32, sides 64..1024, multiple of 16``."""
        extra = f", {self.scale}x from {self.window} frames" if self.kind == "superres" else ""
        if self.percentiles is not None:
            extra += f", percentiles {self.norm_pmin:g}/{self.norm_pmax:g}"
        return f"{self.kind} {self.arch} {self.precision}, {self.shapes()}{extra}"

    def to_props(self) -> dict[str, str]:
        """Flat string metadata, as stored in ONNX ``metadata_props``."""
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, tuple):
                sep = "x" if f.name == "static_size" else "-"
                value = sep.join(str(v) for v in value)
            out[PREFIX + f.name] = str(value)
        return out

    @classmethod
    def from_props(cls, props: dict[str, str], *, source: str = "model") -> ModelInfo:
        """Parse ``metadata_props``; raise ContractError naming ``source`` if it is not one of ours."""
        mine = {k[len(PREFIX) :]: v for k, v in props.items() if k.startswith(PREFIX)}
        if "kind" not in mine:
            raise ContractError(
                f"{source} carries no vs_colorize metadata; export it with vs-colorize-export "
                "(a foreign ONNX file can still be run through vs-mlrt directly)"
            )
        kwargs: dict[str, Any] = {}  # each value parsed for its field above; __post_init__ validates
        try:
            for f in dataclasses.fields(cls):
                if f.name not in mine:
                    continue
                raw = mine[f.name]
                if f.name == "static_size":
                    h, w = raw.split("x")
                    kwargs[f.name] = (int(h), int(w))
                elif f.name == "dynamic_range":
                    lo, hi = raw.split("-")
                    kwargs[f.name] = (int(lo), int(hi))
                elif f.name in ("multiple", "in_channels", "out_channels", "scale", "window", "opset"):
                    kwargs[f.name] = int(raw)
                elif f.name in ("norm_pmin", "norm_pmax"):
                    kwargs[f.name] = float(raw)
                else:
                    kwargs[f.name] = raw
            return cls(**kwargs)
        except (ValueError, TypeError) as exc:
            raise ContractError(f"{source} has malformed vs_colorize metadata: {exc}") from exc


# --- reading metadata_props straight from the protobuf, without the onnx package ------------------------
# ModelProto: field 14 = repeated StringStringEntryProto metadata_props {1: key, 2: value}.
# Large fields (the graph) are skipped by seeking, so the cost does not grow with the model's size.

_WIRE_VARINT, _WIRE_I64, _WIRE_LEN, _WIRE_I32 = 0, 1, 2, 5


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ContractError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ContractError("varint too long")


def _read_varint(f: BinaryIO) -> int | None:
    result = shift = 0
    while True:
        byte = f.read(1)
        if not byte:
            if shift == 0:
                return None
            raise ContractError("truncated varint")
        b = byte[0]
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result
        shift += 7
        if shift > 63:
            raise ContractError("varint too long")


def _parse_entry(buf: bytes) -> tuple[str, str]:
    pos, key, value = 0, "", ""
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        field, wire = tag >> 3, tag & 7
        if wire != _WIRE_LEN:
            raise ContractError("unexpected wire type in metadata entry")
        n, pos = _varint(buf, pos)
        text = buf[pos : pos + n].decode("utf-8")
        pos += n
        if field == 1:
            key = text
        elif field == 2:
            value = text
    return key, value


def read_onnx_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """Return the ``metadata_props`` of an ONNX file as a dict (empty if it has none).

    Raises ContractError if the file is not a parseable ONNX protobuf and FileNotFoundError if absent.
    """
    props: dict[str, str] = {}
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        while True:
            tag = _read_varint(f)
            if tag is None:
                break
            field, wire = tag >> 3, tag & 7
            if field == 0:
                raise ContractError(f"{os.fspath(path)!r} is not an ONNX model (bad protobuf tag)")
            if wire == _WIRE_VARINT:
                if _read_varint(f) is None:
                    raise ContractError("truncated ONNX file")
            elif wire == _WIRE_I64:
                f.seek(8, os.SEEK_CUR)
            elif wire == _WIRE_I32:
                f.seek(4, os.SEEK_CUR)
            elif wire == _WIRE_LEN:
                n = _read_varint(f)
                if n is None or f.tell() + n > size:
                    raise ContractError(f"{os.fspath(path)!r} is truncated or not an ONNX model")
                if field == 14:
                    k, v = _parse_entry(f.read(n))
                    props[k] = v
                else:
                    f.seek(n, os.SEEK_CUR)
            else:
                raise ContractError(f"{os.fspath(path)!r} is not an ONNX model (wire type {wire})")
    return props


def read_model_info(path: str | os.PathLike[str]) -> ModelInfo:
    """Read and validate the vs_colorize metadata of an ONNX artifact."""
    return ModelInfo.from_props(read_onnx_metadata(path), source=repr(os.fspath(path)))


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """``<file>.json``: where a ``.pt2`` or TensorRT engine artifact keeps its metadata (``ModelInfo.to_props()``)."""
    p = Path(path)
    return p.with_name(p.name + ".json")


def read_sidecar(path: str | os.PathLike[str]) -> ModelInfo:
    """Read and validate the metadata of a ``.pt2`` / engine artifact from its :func:`sidecar_path`.

    Raises ContractError when the sidecar is missing or unreadable, is not a JSON object, or holds
    invalid metadata.
    """
    side = sidecar_path(path)
    try:
        props = json.loads(side.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContractError(f"{os.fspath(path)!r} has no metadata sidecar {side.name!r}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractError(f"metadata sidecar {os.fspath(side)!r} is not readable JSON: {exc}") from None
    if not isinstance(props, dict):
        raise ContractError(
            f"metadata sidecar {side.name!r} must hold a JSON object, got {type(props).__name__}"
        )
    return ModelInfo.from_props({str(k): str(v) for k, v in props.items()}, source=repr(os.fspath(path)))
