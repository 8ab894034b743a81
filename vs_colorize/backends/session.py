"""Sessions and the per-frame inference node that the Python-driven backends (ORT, TRT, Torch) share.

A :class:`Session` is one loaded model; :func:`infer_clip` runs a pool of them on every frame of a clip;
:class:`TiledSession` runs one over a :class:`~vs_colorize.backends.tiles.TilePlan`. Everything here works on
VapourSynth nodes; numpy only ever touches model-sized tensors.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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


class BlockCache:
    """The outputs of batched model calls, kept by block until each of its frames has been served once.

    Block ``k`` holds frames ``k·B … k·B+count−1``. The first request for any of them computes the whole block
    (under the block's lock, so concurrent requests for its other frames wait instead of computing it again);
    the block is dropped once every frame was served, and the least recently used blocks are dropped when more
    than ``capacity`` are held (random access: an evicted block is simply computed again when asked). Memory is
    bounded by ``capacity`` blocks plus those being computed or read by a request at that moment.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"BlockCache: capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._blocks: OrderedDict[int, _Block] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._blocks)

    def get(self, block: int, index: int, count: int, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """Frame ``index`` (of ``count``) of ``block`` as ``[1, C, H, W]``, computing the block with ``compute``
        (→ ``[count, C, H, W]``) if it is not held. An exception of ``compute`` propagates and nothing is kept."""
        with self._lock:
            entry = self._blocks.get(block)
            if entry is None:
                entry = self._blocks[block] = _Block(count)
                while len(self._blocks) > self.capacity:
                    self._blocks.popitem(last=False)
            else:
                self._blocks.move_to_end(block)
        with entry.lock:
            if entry.result is None:
                entry.result = compute()
            result = entry.result
        with self._lock:
            entry.served.add(index)
            if len(entry.served) >= entry.count and self._blocks.get(block) is entry:
                del self._blocks[block]
        return result[index : index + 1]


@dataclass
class _Block:
    count: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    result: np.ndarray | None = None
    served: set[int] = field(default_factory=set)


def block_views(clip: vs.VideoNode, batch: int) -> list[vs.VideoNode]:
    """``batch`` clips as long as ``clip``: frame n of the j-th is ``clip[min(⌊n/batch⌋·batch + j, len−1)]``.

    So every frame of a block of ``batch`` consecutive frames sees the whole block; the last block of a clip
    whose length is not a multiple of ``batch`` repeats the last frame (its extra outputs are discarded).
    """
    length = clip.num_frames
    pad = -length % batch
    padded = clip + clip[-1] * pad if pad else clip
    return [
        padded.std.SelectEvery(cycle=batch, offsets=[j] * batch, modify_duration=False)[:length]
        for j in range(batch)
    ]


def infer_clip(
    clips: Sequence[vs.VideoNode],
    sessions: Sequence[Session],
    *,
    width: int,
    height: int,
    out_channels: int,
    func: str,
    batch: int = 1,
) -> vs.VideoNode:
    """Run ``sessions`` on every frame of ``clips`` and return the float32 result as a clip.

    The planes of all ``clips`` (float, same size, same length) are stacked as the model's input channels;
    the output is RGBS (3 channels) or GRAYS (1 channel) of ``width``×``height`` carrying the first clip's
    props. One session: a plain ``std.ModifyFrame`` (callbacks are serialised). Several sessions: the
    ``FrameEval(lambda n: ModifyFrame(...))`` pattern, whose callbacks run concurrently, each borrowing a
    session from a pool. Every session must compute the same function, so the output does not depend on
    ``num_streams`` or ``core.num_threads``.

    ``batch`` > 1: each model call takes ``batch`` consecutive frames ``k·batch …`` (always exactly ``batch``, the
    last block padded with the last frame, so shape-specialised runtimes build once); the request for any frame of
    a block computes it and a :class:`BlockCache` of ``2·len(sessions) + 2`` blocks serves its other frames. Each
    frame request still asks VapourSynth for the block's input frames (served by its frame cache).

    A failed run, a wrong output shape or a non-finite value raises ``vs.Error`` naming the frame and the
    runtime; a frame is never passed through.
    """
    if out_channels not in (1, 3):
        raise error(func, f"out_channels must be 1 or 3, got {out_channels}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise error(func, f"batch must be an int >= 1, got {batch!r}")
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
    length, nclips = clips[0].num_frames, len(clips)
    cache = BlockCache(2 * len(sessions) + 2)

    def run(x: np.ndarray, first: int, count: int) -> np.ndarray:
        what = f"frame {first}" if count == 1 else f"frames {first}..{first + count - 1}"
        session = pool.get()
        try:
            y = session(x)
        except Exception as exc:
            raise error(func, f"inference failed on {what} with {label}: {exc}") from exc
        finally:
            pool.put(session)
        expected = (x.shape[0], out_channels, height, width)
        if y.shape != expected:
            raise error(func, f"{label} returned shape {y.shape} on {what}, expected {expected}")
        return y[:count]

    def infer(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        inputs = f[1 : 1 + nclips]
        if batch == 1:
            y = run(frames_to_array(inputs), n, 1)
        else:
            k, j = divmod(n, batch)
            count = min(batch, length - k * batch)
            views = f[1 + nclips :]

            def compute() -> np.ndarray:
                x = np.concatenate(
                    [frames_to_array(views[i * nclips : (i + 1) * nclips]) for i in range(batch)]
                )
                return run(x, k * batch, count)

            y = cache.get(k, j, count, compute)
        if not np.isfinite(y).all():
            raise error(func, f"{label} produced NaN/Inf on frame {n}; refusing to pass the frame through")
        out = f[0].copy()
        for key, v in f[1].props.items():
            out.props[key] = v
        if out_channels == 3:
            out.props["_Matrix"] = int(vs.MATRIX_RGB)
        array_to_frame(y, out)
        return out

    nodes = [template, *clips]
    if batch > 1:  # j-major: the j-th frame of the block, every clip's view of it in order
        nodes += [v for views_j in zip(*(block_views(c, batch) for c in clips), strict=True) for v in views_j]
    if len(sessions) == 1:
        node = template.std.ModifyFrame(nodes, infer)
    else:
        node = template.std.FrameEval(lambda n: template.std.ModifyFrame(nodes, infer), clip_src=nodes)
    return node
