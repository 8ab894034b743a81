"""Frame plumbing: colour props, frame ⇄ array copies and the per-frame inference node.

Everything here works on VapourSynth nodes; numpy only ever touches model-sized tensors.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Protocol

import numpy as np
import vapoursynth as vs

from .checks import error

log = logging.getLogger("vs_colorize")
core = vs.core

#: Matrix coefficients a YUV clip may carry (vs.MatrixCoefficients minus RGB, unspecified and reserved).
YUV_MATRICES = frozenset(int(m) for m in vs.MatrixCoefficients) - {0, 2, 3}


class Session(Protocol):
    """One inference context: maps an NCHW float32 array to an NCHW float32 array.

    ``description`` names the runtime that really runs it (e.g. ``ORT[CPUExecutionProvider]``).
    """

    @property
    def description(self) -> str: ...

    def __call__(self, x: np.ndarray) -> np.ndarray: ...


# --- colour props ----------------------------------------------------------------------------------------


def default_matrix(width: int, height: int) -> int:
    """BT.709 (1) for HD frames (width ≥ 1280 or height ≥ 720), else BT.601 / SMPTE 170M (6)."""
    return int(vs.MATRIX_BT709) if width >= 1280 or height >= 720 else int(vs.MATRIX_ST170_M)


def frame_range(props: vs.FrameProps, family: vs.ColorFamily, fallback: int | None) -> int:
    """The frame's range as R81 ``_Range`` (1 = full, 0 = limited).

    Reads ``_Range``; falls back to the deprecated ``_ColorRange`` (inverted: 0 = full; VapourSynth
    R81 already translates it into ``_Range`` when it is written, older cores may not), then to
    ``fallback``, then to limited for YUV/GRAY and full for RGB.
    """
    value = props.get("_Range")
    if value is not None and int(value) in (0, 1):
        return int(value)
    legacy = props.get("_ColorRange")
    if legacy is not None and int(legacy) in (0, 1):
        return 1 - int(legacy)
    if fallback is not None:
        return fallback
    return int(vs.RANGE_FULL) if family == vs.RGB else int(vs.RANGE_LIMITED)


def frame_matrix(props: vs.FrameProps, family: vs.ColorFamily, fallback: int) -> int:
    """The frame's ``_Matrix``: 0 for RGB; ``fallback`` when absent, unspecified (2) or not a YUV matrix."""
    if family == vs.RGB:
        return int(vs.MATRIX_RGB)
    value = props.get("_Matrix")
    if value is None or int(value) not in YUV_MATRICES:
        return fallback
    return int(value)


def normalize_props(clip: vs.VideoNode, *, matrix: int, range_in: int | None) -> vs.VideoNode:
    """Write explicit ``_Matrix`` and ``_Range`` on every frame and drop the deprecated ``_ColorRange``.

    ``matrix`` replaces a missing or unspecified ``_Matrix`` (RGB always gets 0); ``range_in`` replaces a
    missing range (see :func:`frame_range`). Planes are not touched (the frame data is shared).
    """
    family = clip.format.color_family

    def fix(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        props = out.props
        rng = frame_range(props, family, range_in)
        props["_Matrix"] = frame_matrix(props, family, matrix)
        # R81 aliases _ColorRange to _Range (deleting one deletes both): drop first, then write _Range.
        if "_ColorRange" in props:
            del props["_ColorRange"]
        props["_Range"] = rng
        return out

    return clip.std.ModifyFrame(clip, fix)


def select_by_props[K: Hashable](
    prop_src: vs.VideoNode,
    template: vs.VideoNode,
    key: Callable[[vs.FrameProps], K],
    build: Callable[[K], vs.VideoNode],
) -> vs.VideoNode:
    """Per frame, return ``build(key(props))`` for the props of ``prop_src``'s frame.

    Resize's *output* arguments (matrix, range, chroma location) cannot follow frame props, so each
    distinct key gets its own node, built once and cached. ``template`` fixes format, size and length.
    """
    nodes: dict[K, vs.VideoNode] = {}
    lock = threading.Lock()

    def pick(n: int, f: vs.VideoFrame) -> vs.VideoNode:
        k = key(f.props)
        with lock:
            if k not in nodes:
                nodes[k] = build(k)
            return nodes[k]

    return template.std.FrameEval(pick, prop_src=prop_src)


# --- frame ⇄ array ---------------------------------------------------------------------------------------


def frames_to_array(frames: Sequence[vs.VideoFrame]) -> np.ndarray:
    """Stack every plane of ``frames`` (in order) as channels of a ``[1, C, H, W]`` float32 array."""
    planes = [np.asarray(f[p]) for f in frames for p in range(f.format.num_planes)]
    return np.stack(planes)[None].astype(np.float32, copy=False)


def array_to_frame(array: np.ndarray, frame: vs.VideoFrame) -> None:
    """Copy a ``[1, C, H, W]`` (or ``[C, H, W]``) array into the planes of a writable ``frame``."""
    chw = array[0] if array.ndim == 4 else array
    for p in range(frame.format.num_planes):
        np.copyto(np.asarray(frame[p]), chw[p], casting="same_kind")


# --- the inference node ----------------------------------------------------------------------------------


def infer_clip(
    clips: Sequence[vs.VideoNode],
    sessions: Sequence[Session],
    *,
    width: int,
    height: int,
    out_channels: int,
    func: str,
) -> vs.VideoNode:
    """Run ``sessions`` on every frame of ``clips`` and return the float32 result as a clip.

    The planes of all ``clips`` (float, same size, same length) are stacked as the model's input channels;
    the output is RGBS (3 channels) or GRAYS (1 channel) of ``width``×``height`` carrying the first clip's
    props. One session: a plain ``std.ModifyFrame`` (callbacks are serialised). Several sessions: the
    ``FrameEval(lambda n: ModifyFrame(...))`` pattern, whose callbacks run concurrently, each borrowing a
    session from a pool. Every session must compute the same function, so the output does not depend on
    ``num_streams`` or ``core.num_threads``.

    A failed run, a wrong output shape or a non-finite value raises ``vs.Error`` naming the frame and the
    runtime; a frame is never passed through.
    """
    if out_channels not in (1, 3):
        raise error(func, f"out_channels must be 1 or 3, got {out_channels}")
    fmt = vs.RGBS if out_channels == 3 else vs.GRAYS
    template = core.std.BlankClip(clips[0], width=width, height=height, format=fmt, keep=True)
    label = sessions[0].description
    if len(sessions) > core.num_threads:
        log.warning(
            "%s: num_streams=%d exceeds core.num_threads=%d; the extra streams stay idle",
            func, len(sessions), core.num_threads,
        )  # fmt: skip
    pool: queue.SimpleQueue[Session] = queue.SimpleQueue()
    for s in sessions:
        pool.put(s)
    expected = (1, out_channels, height, width)

    def infer(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        x = frames_to_array(f[1:])
        session = pool.get()
        try:
            y = session(x)
        except Exception as exc:
            raise error(func, f"inference failed on frame {n} with {label}: {exc}") from exc
        finally:
            pool.put(session)
        if y.shape != expected:
            raise error(func, f"{label} returned shape {y.shape} on frame {n}, expected {expected}")
        if not np.isfinite(y).all():
            raise error(func, f"{label} produced NaN/Inf on frame {n}; refusing to pass the frame through")
        out = f[0].copy()
        for k, v in f[1].props.items():
            out.props[k] = v
        if out_channels == 3:
            out.props["_Matrix"] = int(vs.MATRIX_RGB)
        array_to_frame(y, out)
        return out

    inputs = [template, *clips]
    if len(sessions) == 1:
        return template.std.ModifyFrame(inputs, infer)
    return template.std.FrameEval(lambda n: template.std.ModifyFrame(inputs, infer), clip_src=inputs)


def check_finite(clip: vs.VideoNode, *, func: str, label: str) -> vs.VideoNode:
    """Raise ``vs.Error`` on any frame of a float model-sized ``clip`` holding NaN/Inf (for foreign runtimes)."""

    def check(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        for p in range(f.format.num_planes):
            if not np.isfinite(np.asarray(f[p])).all():
                raise error(
                    func, f"{label} produced NaN/Inf on frame {n}; refusing to pass the frame through"
                )
        return f

    return clip.std.ModifyFrame(clip, check)
