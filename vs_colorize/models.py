"""Model resolution: registry names and artifact paths → a checked :class:`ResolvedModel`.

Artifacts and where their metadata lives:

* ``.onnx``: ``metadata_props`` read with :func:`vs_colorize.core.contract.read_model_info`;
* ``.pt2`` (``torch.export``), ``.engine`` / ``.plan`` (TensorRT): a sidecar ``<file>.json`` holding
  ``ModelInfo.to_props()``.

A TensorRT engine is native code: TensorRT runs what the file holds as it loads it (plugins included), so a
filter loads an engine file only when its caller says the file is trusted (:func:`check_engine_trust`).
Engines that vs-colorize builds itself from an ``.onnx`` live in the user's cache and need no such word.

Registry names (``video``, ``stable``, ``artistic``, ``demo``) live in the user cache as
``models/<name>-<precision>.onnx`` (``.pt2`` beside it for torch); ``demo`` also ships inside the package
as ``vs_colorize/assets/demo-<precision>.onnx``. ``superres`` with ``model=None`` runs the shipped
``vs_colorize/assets/pssr3-x4-confocal.onnx`` (its card: ``vs_colorize/assets/PSSR_MODEL_CARD.md``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .checks import error
from .core import cache
from .core.contract import (
    PRECISIONS,
    ContractError,
    Kind,
    ModelInfo,
    Precision,
    read_model_info,
    read_sidecar,
)

log = logging.getLogger("vs_colorize")

ASSETS = Path(__file__).resolve().parent / "assets"
SUFFIXES = {".onnx": "onnx", ".pt2": "pt2", ".engine": "engine", ".plan": "engine"}
#: Registry name tried first when ``model=None``.
DEFAULT_CHAIN = ("video", "demo")
#: The shipped 4× three-frame microscopy model, what ``superres`` runs with ``model=None``.
SUPERRES_DEFAULT = ASSETS / "pssr3-x4-confocal.onnx"


@dataclass(frozen=True)
class ResolvedModel:
    """A model file that exists and whose metadata fits the filter.

    ``name`` is the registry name or the file name (what the ``VSColorizeModel`` prop says), ``format``
    one of ``onnx``, ``pt2``, ``engine``.
    """

    path: Path
    info: ModelInfo
    name: str
    format: str


def artifact_format(path: Path) -> str | None:
    """``onnx``, ``pt2`` or ``engine`` from the suffix, None for anything else."""
    return SUFFIXES.get(path.suffix.lower())


def model_format(model: str | os.PathLike[str] | None) -> str:
    """The artifact format a filter's ``model`` argument names: ``pt2`` / ``engine`` by suffix, ``onnx`` for
    ``.onnx``, registry names, None and anything unrecognised."""
    if not isinstance(model, (str, os.PathLike)):  # None, or a bad value resolve_model refuses clearly
        return "onnx"
    return artifact_format(Path(os.fspath(model))) or "onnx"


def check_engine_trust(model: str | os.PathLike[str] | None, trust_engine: bool, *, func: str) -> None:
    """Refuse a TensorRT engine file unless ``trust_engine`` is True.

    Deserialising an engine runs native code the file carries (TensorRT's security guidance: only engines
    you built, or received over a trusted channel). Checked before any backend is chosen, so nothing of the
    file is read. ``.onnx``, ``.pt2`` and registry names pass.
    """
    if not isinstance(trust_engine, bool):
        raise error(func, f"trust_engine must be True or False, got {trust_engine!r}")
    if isinstance(model, (str, os.PathLike)) and model_format(model) == "engine" and not trust_engine:
        raise error(
            func,
            f"model {os.fspath(model)!r} is a TensorRT engine, which is native code TensorRT runs as it loads "
            "it; pass trust_engine=True (CLI: --trust-engine) only for an engine you built or got over a "
            "trusted channel, or pass the .onnx and the TRT backend builds and caches its own engine",
        )


def read_info(path: Path, *, func: str) -> ModelInfo:
    """Read an artifact's metadata, raising ``vs.Error`` naming ``model`` when it is missing or malformed."""
    try:
        return read_model_info(path) if artifact_format(path) == "onnx" else read_sidecar(path)
    except ContractError as exc:
        raise error(func, f"model {str(path)!r} is not a usable artifact: {exc}") from exc


def registry_candidates(name: str, precision: Precision, fmt: str) -> list[Path]:
    """Files that may hold registry ``name``: preferred precision first, the other one as fallback."""
    suffix = ".pt2" if fmt == "pt2" else ".onnx"
    order = [precision, *(p for p in PRECISIONS if p != precision)]
    paths = [cache.registry_model_path(name, p).with_suffix(suffix) for p in order]
    if name == "demo" and fmt == "onnx":
        paths += [ASSETS / f"demo-{p}.onnx" for p in order]
    return paths


def _find_registry(name: str, precision: Precision, fmt: str) -> Path | None:
    return next((p for p in registry_candidates(name, precision, fmt) if p.is_file()), None)


def resolve_model(
    model: str | os.PathLike[str] | None,
    *,
    kind: Kind,
    func: str,
    precision: Precision = "fp32",
    formats: tuple[str, ...] = ("onnx",),
) -> ResolvedModel:
    """Turn the ``model`` argument into a checked artifact.

    Args:
        model: a file path (``.onnx``, ``.pt2``, ``.engine``/``.plan``), a registry name, or None for the
            default (colorize: ``video`` if installed, else ``demo``; superres: the shipped
            ``pssr3-x4-confocal``).
        kind: the model kind the filter runs (``colorize`` or ``superres``).
        func: the filter's name, for error messages.
        precision: the preferred precision for registry names (the other one is used if it is the only
            one installed).
        formats: artifact formats the chosen backend loads; registry names are looked up in the first.

    Raises:
        vs.Error: missing or unreadable file, a format the backend cannot load, no vs_colorize metadata,
            or metadata of another kind.
    """
    if model is not None and not isinstance(model, (str, os.PathLike)):
        raise error(func, f"model must be a file path or a registry name (str), got {type(model).__name__}")
    if model is None and kind == "superres":
        if not SUPERRES_DEFAULT.is_file():
            raise error(
                func, f"model=None but the shipped model {str(SUPERRES_DEFAULT)!r} is missing; pass model="
            )
        resolved = _checked(SUPERRES_DEFAULT, SUPERRES_DEFAULT.stem, kind=kind, func=func, formats=formats)
        log.info(
            "%s: model=None: the shipped %s (4x, 3 frames, trained on BSD-3 confocal time-lapses; "
            "card: vs_colorize/assets/PSSR_MODEL_CARD.md)",
            func,
            resolved.name,
        )
        return resolved
    if model is None and kind != "colorize":
        raise error(func, f"model is required: a {kind} .onnx artifact (vs-colorize-export {kind} …)")
    if model is None:
        for name in DEFAULT_CHAIN:
            path = _find_registry(name, precision, formats[0])
            if path is not None:
                return _checked(path, name, kind=kind, func=func, formats=formats)
        wanted = cache.registry_model_path("video", precision)
        raise error(
            func,
            f"model=None but no model is installed (looked for {', '.join(DEFAULT_CHAIN)}); "
            f"get weights with `vs-colorize-export deoldify video` (writes {wanted}) or pass model=<file.onnx>",
        )
    text = os.fspath(model)
    if kind == "colorize" and text in cache.REGISTRY_NAMES and not Path(text).is_file():
        path = _find_registry(text, precision, formats[0])
        if path is None:
            raise error(
                func,
                f"model={text!r} is not installed (looked in {cache.registry_model_path(text, precision).parent}); "
                f"create it with `vs-colorize-export deoldify {text}`",
            )
        return _checked(path, text, kind=kind, func=func, formats=formats)
    path = Path(text).expanduser()
    if not path.is_file() and kind != "colorize":
        raise error(func, f"model {text!r} is not a file (a {kind} model is an .onnx artifact path)")
    if not path.is_file():
        raise error(
            func,
            f"model {text!r} is neither a file nor a registry name ({', '.join(cache.REGISTRY_NAMES)})",
        )
    return _checked(path, path.name, kind=kind, func=func, formats=formats)


def _checked(path: Path, name: str, *, kind: Kind, func: str, formats: tuple[str, ...]) -> ResolvedModel:
    fmt = artifact_format(path)
    if fmt is None:
        raise error(func, f"model {str(path)!r} must be .onnx, .pt2, .engine or .plan")
    if fmt not in formats:
        raise error(
            func,
            f"model {str(path)!r} is a {fmt} artifact, which this backend cannot load "
            f"(it loads {', '.join(formats)})",
        )
    info = read_info(path, func=func)
    if info.kind != kind:
        raise error(func, f"model {str(path)!r} is a {info.kind!r} model, not a {kind!r} model")
    log.info("%s: using model %s (%s: %s)", func, name, path, info.describe())
    return ResolvedModel(path=path, info=info, name=name, format=fmt)
