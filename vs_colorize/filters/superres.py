"""``superres``: 3-frame microscopy super-resolution (PSSR-style) as a VapourSynth filter.

Template: validate the clip and arguments → pick backend and model → convert to GRAYS in [0,1] (in
VapourSynth) → build the temporal window (frames n−1, n, n+1, ends replicated) → infer, in blended tiles when
asked → convert back to the source sample type at ``scale``× size.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import vapoursynth as vs

from .. import frames
from ..backends import Backend, get_backend
from ..backends.base import SessionBackend
from ..checks import check_clip, check_int, error
from ..core.contract import ModelInfo
from ..models import model_format, resolve_model
from ..tiling import padded_size, run_tiled
from .frame_window import window

log = logging.getLogger("vs_colorize")
core = vs.core
FUNC = "superres"
#: Tile overlap when none is given (capped at half the tile side).
DEFAULT_OVERLAP = 32


@dataclass
class TiledSession:
    """A :class:`~vs_colorize.frames.Session` that runs an inner session over blended tiles.

    Every call of the inner session gets one shape (``fixed`` tiles, or the whole padded frame), so
    shape-specialised runtimes (TensorRT engines) build once.
    """

    inner: frames.Session
    scale: int
    tile: tuple[int, int] | None
    overlap: int
    multiple: int
    min_size: int

    @property
    def description(self) -> str:
        return self.inner.description

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return run_tiled(
            self.inner,
            x,
            scale=self.scale,
            tile=self.tile,
            overlap=self.overlap,
            multiple=self.multiple,
            min_size=self.min_size,
            fixed=self.tile is not None,
        )


def _tile_size(
    tile: int | Sequence[int] | None, info: ModelInfo, width: int, height: int
) -> tuple[int, int] | None:
    """Validate ``tile`` against the model and pick a tile when the frame exceeds the model's range."""
    if info.static_size is not None:
        wanted = (tile, tile) if isinstance(tile, int) else None if tile is None else tuple(tile)
        if wanted is not None and wanted != info.static_size:
            raise error(
                FUNC, f"tile must be None or the model's static size {info.static_size}, got {tile!r}"
            )
        return info.static_size
    assert info.dynamic_range is not None  # set exactly when static_size is not
    lo, hi = info.dynamic_range
    if tile is None:
        if max(padded_size(s, multiple=info.multiple, min_size=lo) for s in (width, height)) <= hi:
            return None
        side = hi // info.multiple * info.multiple
        log.info(
            "%s: frame %dx%d exceeds the model's %d px limit; tiling at %d", FUNC, width, height, hi, side
        )
        return side, side
    if not isinstance(tile, int) and (not isinstance(tile, Sequence) or len(tile) != 2):
        raise error(FUNC, f"tile must be None, an int or (height, width), got {tile!r}")
    th, tw = (tile, tile) if isinstance(tile, int) else tuple(tile)
    for v in (th, tw):
        check_int(v, FUNC, "tile", lo, hi)
        if v % info.multiple:
            raise error(FUNC, f"tile must be a multiple of {info.multiple} for this model, got {tile!r}")
    return th, tw


def superres(
    clip: vs.VideoNode,
    model: str | os.PathLike[str],
    *,
    backend: Backend | str | None = None,
    tile: int | tuple[int, int] | None = None,
    overlap: int | None = None,
    range_in: int | None = 1,
) -> vs.VideoNode:
    """Super-resolve a GRAY microscopy movie with a 3-frame model (frames n−1, n, n+1 → HR frame n).

    Args:
        clip: GRAY clip, integer 8–16 bit or float 16/32 bit, constant format and size. Each source frame is
            converted and decoded once however many windows use it (VapourSynth's frame cache).
        model: path of a superres artifact (``.onnx`` with vs_colorize metadata, kind ``superres``; an engine
            or ``.pt2`` with its JSON sidecar for the TensorRT / torch backends).
        backend: None (autoselect), ``"ort"`` etc., or a :class:`~vs_colorize.backends.Backend` instance.
        tile: None (default: the whole frame at once, tiled automatically only when it exceeds the model's
            size range), an int side or ``(height, width)`` of the tiles on the *input* grid; a multiple of the
            model's ``multiple`` within its size range. Tiles let 2048² frames run on small GPUs.
        overlap: input pixels shared by adjacent tiles, >= 0 and < the tile side (default None: 32, or half
            the tile side for tiles under 64). With ``overlap`` >= 4× the model's receptive radius, tiling
            equals the untiled result up to float rounding (measured differences: docs/superres.md).
        range_in: 1 (full, default: microscopy data uses the whole code range) or 0 (limited), used only where
            the frames carry no ``_Range`` prop; None keeps VapourSynth's default (limited for GRAY).

    Returns:
        A GRAY clip of the source's sample type, ``scale``× wider and taller, frame props of frame n.

    Raises:
        vs.Error: non-GRAY or unsupported clip, bad arguments, a model of another kind or window, a runtime
            failure or NaN/Inf output (never a silent pass-through).
    """
    clip = check_clip(clip, FUNC, families=(vs.GRAY,))
    if overlap is not None:
        check_int(overlap, FUNC, "overlap", 0)
    if range_in is not None:
        check_int(range_in, FUNC, "range_in", 0, 1)
    chosen = get_backend(backend, func=FUNC, model_format=model_format(model))
    if backend is None:
        chosen = single_cpu_session(chosen)
    resolved = resolve_model(
        model, kind="superres", func=FUNC, precision=chosen.precision, formats=chosen.formats
    )
    info = resolved.info
    if info.window % 2 == 0:
        raise error(FUNC, f"model {resolved.name!r} has an even window ({info.window}); expected an odd one")
    tiles = _tile_size(tile, info, clip.width, clip.height)
    if overlap is None:
        overlap = min(DEFAULT_OVERLAP, min(tiles) // 2) if tiles is not None else DEFAULT_OVERLAP
    if tiles is not None and overlap >= min(tiles):
        raise error(FUNC, f"overlap must be smaller than the tile side {min(tiles)}, got {overlap}")
    src = frames.normalize_props(clip, matrix=int(vs.MATRIX_UNSPECIFIED), range_in=range_in)
    grays = src if clip.format.id == vs.GRAYS else core.resize.Point(src, format=vs.GRAYS)
    clips = window(grays, info.window // 2)
    width, height = clip.width * info.scale, clip.height * info.scale
    if isinstance(chosen, SessionBackend):
        lo = info.dynamic_range[0] if info.dynamic_range else 1
        side = (padded_size(s, multiple=info.multiple, min_size=lo) for s in (clip.height, clip.width))
        shape = (1, info.window, *(tiles if tiles is not None else side))
        sessions = [
            TiledSession(
                chosen.open(resolved.path, info, shape), info.scale, tiles, overlap, info.multiple, lo
            )
            for _ in range(chosen.num_streams)
        ]
        out = frames.infer_clip(clips, sessions, width=width, height=height, out_channels=1, func=FUNC)
        label = sessions[0].description
    else:
        if tile is not None or not info.accepts(clip.height, clip.width):
            raise error(
                FUNC,
                f"backend {chosen.name!r} runs whole frames only: the {clip.width}x{clip.height} clip must fit "
                f"the model ({_describe(info)}) and tile must be None; use backend='ort' for tiling",
            )
        out, label = chosen.apply(clips, resolved.path, info, width=width, height=height, func=FUNC)
    log.info("%s: %s at %dx on %s", FUNC, resolved.name, info.scale, label)
    out = core.std.CopyFrameProps(out, grays)
    if clip.format.id != vs.GRAYS:
        out = core.resize.Point(out, format=clip.format.id)
    return core.std.SetFrameProps(out, VSColorizeModel=resolved.name)


def single_cpu_session(backend: Backend) -> Backend:
    """An autoselected ONNX Runtime CPU backend folded into one session over all its threads.

    ``autoselect`` runs two CPU streams (faster for colorize), but a whole-frame SR session is big (ONNX
    Runtime's arena for a 1024² → 4096² frame of the default 4× model: docs/benchmarks.md, ``superres``), so a
    second stream could exhaust the machine's memory while the filter's own work around the model stays
    negligible there. Explicit backends are left as given.
    """
    from ..backends import ORT

    if isinstance(backend, ORT) and not backend.gpu and backend.num_streams > 1:
        threads = backend.num_streams * backend.intra_op_threads
        return dataclasses.replace(backend, num_streams=1, intra_op_threads=threads)
    return backend


def _describe(info: ModelInfo) -> str:
    if info.static_size is not None:
        return f"static {info.static_size[1]}x{info.static_size[0]}"
    assert info.dynamic_range is not None  # set exactly when static_size is not
    lo, hi = info.dynamic_range
    return f"sides {lo}..{hi}, multiple of {info.multiple}"
