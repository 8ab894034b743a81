"""Sessions and the per-frame inference node that the Python-driven backends (ORT, TRT, Torch) share.

A :class:`Session` is one loaded model; :func:`infer_clip` runs a pool of them on every frame of a clip;
:class:`TiledSession` runs one over a :class:`~vs_colorize.backends.tiles.TilePlan`. Everything here works on
VapourSynth nodes; numpy only ever touches model-sized tensors.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import vapoursynth as vs

from ..checks import error
from ..tiling import run_tiled
from .tiles import TilePlan

log = logging.getLogger("vs_colorize")
core = vs.core


class Session(Protocol):
    """One inference context: maps an NCHW float32 array to an NCHW float32 array.

    ``description`` names the runtime that really runs it (e.g. ``ORT[CPUExecutionProvider]``).
    """

    @property
    def description(self) -> str: ...

    def __call__(self, x: np.ndarray) -> np.ndarray: ...


@dataclass
class TiledSession:
    """A :class:`Session` that runs an inner session over ``plan``'s blended tiles (or padded whole frames).

    Every call of the inner session gets one shape, so shape-specialised runtimes (TensorRT engines) build once.
    """

    inner: Session
    plan: TilePlan

    @property
    def description(self) -> str:
        return self.inner.description

    def __call__(self, x: np.ndarray) -> np.ndarray:
        p = self.plan
        return run_tiled(
            self.inner,
            x,
            scale=p.scale,
            tile=p.tile,
            overlap=p.overlap,
            multiple=p.multiple,
            min_size=p.min_size,
            fixed=p.tile is not None,
        )


def frames_to_array(frames: Sequence[vs.VideoFrame]) -> np.ndarray:
    """Stack every plane of ``frames`` (in order) as channels of a ``[1, C, H, W]`` float32 array."""
    planes = [np.asarray(f[p]) for f in frames for p in range(f.format.num_planes)]
    return np.stack(planes)[None].astype(np.float32, copy=False)


def array_to_frame(array: np.ndarray, frame: vs.VideoFrame) -> None:
    """Copy a ``[1, C, H, W]`` (or ``[C, H, W]``) array into the planes of a writable ``frame``."""
    chw = array[0] if array.ndim == 4 else array
    for p in range(frame.format.num_planes):
        np.copyto(np.asarray(frame[p]), chw[p], casting="same_kind")


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
