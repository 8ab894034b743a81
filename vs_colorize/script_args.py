"""Checked ``-a key=value`` arguments for the vspipe scripts in ``scripts/``.

vspipe hands every ``-a key=value`` to the script as a string global, and a script that reads them with
``globals().get(...)`` silently ignores a misspelt key. :func:`script_args` takes the globals the script saw
before it imported anything, refuses unknown keys (suggesting the closest known one) and converts each value
with an error that names the script and the key.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import vapoursynth as vs

__all__ = ["Arg", "as_flag", "as_int", "script_args"]

_FLAGS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def as_int(text: str) -> int:
    """A decimal integer (``"21"``)."""
    try:
        return int(text, 10)
    except ValueError:
        raise ValueError("expected an integer") from None


def as_flag(text: str) -> bool:
    """``1/0``, ``true/false``, ``yes/no`` or ``on/off``."""
    try:
        return _FLAGS[text.strip().lower()]
    except KeyError:
        raise ValueError("expected 1/0, true/false, yes/no or on/off") from None


def as_choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    """A converter that accepts one of ``choices`` exactly."""

    def convert(text: str) -> str:
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return text

    return convert


@dataclass(frozen=True)
class Arg:
    """One ``-a`` argument: how to convert its text, its default, and whether it must be given."""

    convert: Callable[[str], Any] = str
    default: Any = None
    required: bool = False


def script_args(script: str, given: Mapping[str, object], known: Mapping[str, Arg]) -> dict[str, Any]:
    """Check and convert a vspipe script's ``-a`` arguments.

    Args:
        script: the script's name, for messages (``"colorize.vpy"``).
        given: the script's globals before its first import: the ``-a`` arguments and dunder names.
        known: argument name → :class:`Arg`.

    Returns:
        Every known name → its converted value or default.

    Raises:
        vs.Error: an unknown key (with the closest known one), a missing required key, or a value that does
            not convert; the message names the script and the key.
    """
    values = {k: v for k, v in given.items() if not k.startswith("__")}
    for key in sorted(set(values) - set(known)):
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise vs.Error(f"{script}: unknown argument -a {key}=…{hint} (known: {', '.join(sorted(known))})")
    out: dict[str, Any] = {}
    for name, arg in known.items():
        if name not in values:
            if arg.required:
                raise vs.Error(f"{script}: pass -a {name}=… (required)")
            out[name] = arg.default
            continue
        raw = values[name]
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        try:
            out[name] = arg.convert(text)
        except ValueError as exc:
            raise vs.Error(f"{script}: -a {name}={text!r}: {exc}") from None
    return out
