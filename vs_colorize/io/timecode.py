"""SMPTE timecode as text (``HH:MM:SS:FF``, ``;`` before the frames for drop-frame): parse, step, format.

Drop-frame counting (29.97/59.94 fps) skips frame numbers 0 and 1 (2× at 59.94) at the start of every
minute that is not a multiple of ten, as SMPTE 12M says; other rates count every frame.
"""

from __future__ import annotations

import logging
import re
from fractions import Fraction

import vapoursynth as vs

log = logging.getLogger(__name__)

_TC = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")


def nominal_fps(rate: Fraction) -> int:
    """Frames counted per timecode second: 24 for 24000/1001, 30 for 30000/1001, …"""
    return max(1, round(rate))


def _drop(rate: Fraction) -> int:
    """Frame numbers dropped per minute (0 unless a drop-frame rate)."""
    fps = nominal_fps(rate)
    return fps // 15 if rate.denominator == 1001 and fps % 30 == 0 else 0


def to_frames(tc: str, rate: Fraction) -> tuple[int, bool]:
    """A timecode → (frame count since 00:00:00:00, drop-frame?). ValueError for a malformed one."""
    m = _TC.match(tc.strip())
    if m is None:
        raise ValueError(f"timecode: {tc!r} is not HH:MM:SS:FF")
    hh, mm, ss, sep, ff = int(m[1]), int(m[2]), int(m[3]), m[4], int(m[5])
    fps = nominal_fps(rate)
    if mm > 59 or ss > 59 or ff >= fps:
        raise ValueError(f"timecode: {tc!r} is out of range at {fps} frames per second")
    drop = _drop(rate) if sep in ";," else 0
    minutes = 60 * hh + mm
    return (minutes * 60 + ss) * fps + ff - drop * (minutes - minutes // 10), drop > 0


def from_frames(frames: int, rate: Fraction, drop: bool = False) -> str:
    """A frame count since 00:00:00:00 → timecode (wrapping at 24 hours)."""
    fps = nominal_fps(rate)
    d = _drop(rate) if drop else 0
    if d:
        per10 = fps * 600 - d * 9  # frames in ten minutes
        tens, rest = divmod(frames, per10)
        frames += d * 9 * tens + (d * ((rest - d) // (fps * 60 - d)) if rest >= d else 0)
    frames %= fps * 86400
    ss, ff = divmod(frames, fps)
    mm, ss = divmod(ss, 60)
    hh, mm = divmod(mm, 60)
    return f"{hh:02d}:{mm:02d}:{ss:02d}{';' if d else ':'}{ff:02d}"


def offset(tc: str, frames: int, rate: Fraction) -> str:
    """``tc`` moved on by ``frames`` frames at ``rate`` (drop-frame stays drop-frame)."""
    count, drop = to_frames(tc, rate)
    return from_frames(count + frames, rate, drop)


def stamp_timecode(clip: vs.VideoNode, timecode: str, reel: str | None = None, *, func: str) -> vs.VideoNode:
    """``clip`` with every frame's ``Timecode`` prop counted on from ``timecode`` (and ``Reel`` when
    given); unchanged, with a warning, when the timecode is malformed or the frame rate variable."""
    if not clip.fps.numerator:
        log.warning("%s: variable frame rate; the timecode %s is not carried", func, timecode)
        return clip
    rate = Fraction(clip.fps.numerator, clip.fps.denominator)
    try:
        start, drop = to_frames(timecode, rate)
    except ValueError as exc:
        log.warning("%s: %s; not carried", func, exc)
        return clip

    def stamp(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        out.props["Timecode"] = from_frames(start + n, rate, drop)
        if reel:
            out.props["Reel"] = reel
        return out

    return clip.std.ModifyFrame(clip, stamp)
