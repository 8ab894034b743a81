"""Temporal windows: frame n of the k-th returned clip is source frame clamp(n + offset_k), ends replicated.

The shifted clips are ``Trim``/``Splice`` views of one source node, so VapourSynth's frame cache serves every
request for source frame m from one decode, whichever window position asks for it.
"""

from __future__ import annotations

import vapoursynth as vs


def shift(clip: vs.VideoNode, offset: int) -> vs.VideoNode:
    """Frame n of the result is ``clip[clamp(n + offset, 0, len − 1)]``; same length as ``clip``."""
    n = clip.num_frames
    if offset == 0:
        return clip
    if abs(offset) >= n:
        return clip[0] * n if offset < 0 else clip[-1] * n
    if offset < 0:
        return clip[0] * (-offset) + clip[: n + offset]
    return clip[offset:] + clip[-1] * offset


def window(clip: vs.VideoNode, radius: int = 1) -> list[vs.VideoNode]:
    """The ``2·radius + 1`` clips holding frames n−radius … n+radius at position n (radius >= 0, default 1).

    For the 3-frame SR models this is ``[prev, cur, next]`` with the first frame standing in for frame −1 and the
    last for frame ``len``.
    """
    if not isinstance(clip, vs.VideoNode):
        raise TypeError(f"window: clip must be a vapoursynth.VideoNode, got {type(clip).__name__}")
    if radius < 0:
        raise ValueError(f"window: radius must be >= 0, got {radius}")
    return [shift(clip, k) for k in range(-radius, radius + 1)]
