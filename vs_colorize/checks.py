"""Argument and clip validation shared by the filters.

Every check raises :class:`vapoursynth.Error` whose message starts with the calling function's name and
names the offending argument, e.g. ``colorize: render_factor must be in 4..64, got 3``.
"""

from __future__ import annotations

from collections.abc import Collection

import vapoursynth as vs

#: Sample formats a filter accepts: integer 8–16 bit and float 16/32 bit.
INT_BITS = range(8, 17)
FLOAT_BITS = (16, 32)


def error(func: str, message: str) -> vs.Error:
    """A ``vs.Error`` prefixed with the function name (``func: message``)."""
    return vs.Error(f"{func}: {message}")


def check_clip(
    clip: object,
    func: str,
    *,
    families: Collection[vs.ColorFamily] = (vs.GRAY, vs.YUV, vs.RGB),
    arg: str = "clip",
) -> vs.VideoNode:
    """Check that ``clip`` is a constant-format, constant-size video clip in a supported format.

    Accepted sample types are integer 8–16 bit and float 16/32 bit in one of ``families``.
    Returns the clip (typed) so call sites stay one line.
    """
    if not isinstance(clip, vs.VideoNode):
        raise error(func, f"{arg} must be a vapoursynth.VideoNode, got {type(clip).__name__}")
    fmt = clip.format
    if fmt is None or fmt.id == vs.PresetVideoFormat.NONE:
        raise error(func, f"{arg} must have a constant format (variable format clips are not supported)")
    if clip.width == 0 or clip.height == 0:
        raise error(func, f"{arg} must have a constant frame size (variable size clips are not supported)")
    if fmt.color_family not in families:
        names = "/".join(f.name for f in families)
        raise error(func, f"{arg} must be {names}, got {fmt.name} ({fmt.color_family.name})")
    if fmt.sample_type == vs.INTEGER and fmt.bits_per_sample not in INT_BITS:
        raise error(func, f"{arg} must be 8..16 bit when integer, got {fmt.name}")
    if fmt.sample_type == vs.FLOAT and fmt.bits_per_sample not in FLOAT_BITS:
        raise error(func, f"{arg} must be 16 or 32 bit when float, got {fmt.name}")
    return clip


def check_int(value: object, func: str, arg: str, lo: int, hi: int | None = None) -> int:
    """Check that ``value`` is an int (not a bool) in ``lo..hi`` (``hi=None``: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(func, f"{arg} must be an int, got {type(value).__name__}")
    if value < lo or (hi is not None and value > hi):
        bound = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise error(func, f"{arg} must be {bound}, got {value}")
    return value


def check_float(value: object, func: str, arg: str, lo: float, hi: float) -> float:
    """Check that ``value`` is a real number in ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise error(func, f"{arg} must be a number, got {type(value).__name__}")
    if not lo <= float(value) <= hi:
        raise error(func, f"{arg} must be in [{lo}, {hi}], got {value}")
    return float(value)


def check_choice(value: object, func: str, arg: str, choices: Collection[str]) -> str:
    """Check that ``value`` is one of the string ``choices``."""
    if value not in choices:
        raise error(func, f"{arg} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return str(value)
