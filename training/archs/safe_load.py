"""Read ``torch.save`` files from elsewhere (weights, state dicts) without ever running code from them.

Every loader in ``training`` reads with torch's restricted unpickler (``weights_only=True``) and never
falls back. A refusal becomes :class:`UnsafeFileError` naming the function, the argument, the file and the
offending global — never torch's own advice to retry with ``weights_only=False``.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Iterable
from typing import Any

import torch

__all__ = ["UnsafeFileError", "load_hub_weights", "load_weights", "offending_global", "unpickle_error"]


class UnsafeFileError(ValueError):
    """A weights file that holds more than tensors (unpickling it could run code), or is unreadable."""


def offending_global(exc: BaseException) -> str | None:
    """The global torch's restricted unpickler refused (``'_io.open'``), from its message."""
    found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
    return found.group(1) if found else None


def unpickle_error(where: str, path: str | os.PathLike[str], exc: BaseException) -> UnsafeFileError:
    """The one-line error for a file torch's restricted unpickler refused or could not read."""
    name = offending_global(exc)
    if name is not None or isinstance(exc, pickle.UnpicklingError):
        what = f"the global {name}" if name else "objects the safe unpickler refuses"
        return UnsafeFileError(
            f"{where} {os.fspath(path)!r} holds {what}, not only tensors; it was not loaded, because "
            "unpickling it could run code (re-save the plain state dict with torch.save(model.state_dict()))"
        )
    first = str(exc).splitlines()[0] if str(exc) else ""
    return UnsafeFileError(
        f"{where} {os.fspath(path)!r} is not a readable torch.save file ({type(exc).__name__}: {first})"
    )


def load_weights(
    path: str | os.PathLike[str], where: str, *, allow: Iterable[Any] = (), mmap: bool = False
) -> Any:
    """``torch.load(path, map_location='cpu', weights_only=True)`` with clear errors.

    Args:
        path: the file.
        where: the function and argument for messages, e.g. ``"vgg16_bn_features: weights"``.
        allow: extra globals to allow (``torch.serialization.safe_globals``), e.g. numpy scalar types.
        mmap: map the file instead of reading it (zip-format files only).

    Raises:
        FileNotFoundError: ``path`` is not a file.
        UnsafeFileError: the file needs globals outside the allowlist, or is not a torch.save file.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{where} {os.fspath(path)!r} does not exist")
    try:
        with torch.serialization.safe_globals(list(allow)):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except (
        Exception
    ) as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ValueError, ... on bad files
        raise unpickle_error(where, path, exc) from None


def load_hub_weights(weights: Any, where: str) -> dict[str, torch.Tensor]:
    """A torchvision weights enum's state dict, from the torch hub cache (downloaded when missing), read
    with ``weights_only=True`` (``torch.hub.load_state_dict_from_url`` defaults to ``False``)."""
    cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))
    try:
        state: dict[str, torch.Tensor] = weights.get_state_dict(progress=False, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise unpickle_error(where, cached, exc) from None
    return state
