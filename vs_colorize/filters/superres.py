"""``superres``: 3-frame microscopy super-resolution (PSSR-style) as a VapourSynth filter.

Template: validate the clip and arguments → pick backend and model → convert to GRAYS in [0,1] (in
VapourSynth) → build the temporal window (frames n−1, n, n+1, ends replicated) → for a model trained with
percentile normalisation, normalise each window by its own percentiles → infer (the backend cuts the frames
into blended tiles when asked or needed) → map the output back with the window's percentiles → convert back to
the source sample type at ``scale``× size.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import vapoursynth as vs

from .. import color_props
from ..backends import Backend, get_backend
from ..checks import check_clip, check_int, error
from ..core.percentile import denormalize, normalize, percentile_range
from ..models import check_engine_trust, model_format, resolve_model
from .frame_window import window

log = logging.getLogger("vs_colorize")
core = vs.core
FUNC = "superres"
#: Frame props carrying a window's percentiles between the normalisation and the inverse mapping.
LO_PROP, HI_PROP = "VSColorizeNormLo", "VSColorizeNormHi"


def _window_ranges(clips: list[vs.VideoNode], pmin: float, pmax: float) -> vs.VideoNode:
    """The centre clip with each window's ``pmin``/``pmax`` percentiles (all its frames together) as props."""

    def measure(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        lo, hi = percentile_range(np.stack([np.asarray(x[0]) for x in f]), pmin, pmax)
        out = f[len(f) // 2].copy()
        out.props[LO_PROP], out.props[HI_PROP] = lo, hi
        return out

    centre = clips[len(clips) // 2]
    return centre.std.ModifyFrame(clips, measure)


def _map(clip: vs.VideoNode, ranges: vs.VideoNode, *, inverse: bool) -> vs.VideoNode:
    """``clip`` normalised with (or, ``inverse``, mapped back with) the percentiles ``ranges`` carries."""
    fn = denormalize if inverse else normalize

    def apply(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        src, r = f
        out = src.copy()
        lo, hi = float(r.props[LO_PROP]), float(r.props[HI_PROP])
        np.copyto(np.asarray(out[0]), fn(np.asarray(src[0]), lo, hi))
        return out

    return clip.std.ModifyFrame([clip, ranges], apply)


def superres(
    clip: vs.VideoNode,
    model: str | os.PathLike[str] | None = None,
    *,
    backend: Backend | str | None = None,
    tile: int | tuple[int, int] | None = None,
    overlap: int | None = None,
    range_in: int | None = 1,
    trust_engine: bool = False,
) -> vs.VideoNode:
    """Super-resolve a GRAY microscopy movie with a 3-frame model (frames n−1, n, n+1 → HR frame n).

    Args:
        clip: GRAY clip, integer 8–16 bit or float 16/32 bit, constant format and size. Each source frame is
            converted and decoded once however many windows use it (VapourSynth's frame cache).
        model: path of a superres artifact (``.onnx`` with vs_colorize metadata, kind ``superres``; an engine
            or ``.pt2`` with its JSON sidecar for the TensorRT / torch backends), or None (default): the shipped
            4× three-frame model ``pssr3-x4-confocal`` (logged as such; card in ``vs_colorize/assets``).
        backend: None (autoselect; on a CPU one ONNX Runtime session with all threads, see
            ``vs_colorize.backends.cpu_layout``), ``"ort"`` etc., or a :class:`~vs_colorize.backends.Backend`
            instance. The backend cuts the frames (:mod:`vs_colorize.backends.tiles`).
        tile: None (default: the whole frame at once, tiled automatically only when it exceeds the model's
            size range), an int side or ``(height, width)`` of the tiles on the *input* grid; a multiple of the
            model's ``multiple`` within its size range. Tiles let 2048² frames run on small GPUs. ``MLRT``
            tiles with vs-mlrt's own ``tilesize``/``overlap``; its tiles must fit inside the frame.
        overlap: input pixels shared by adjacent tiles, >= 0 and < the tile side (default None: 32, or half
            the tile side for tiles under 64). With ``overlap`` >= 4× the model's receptive radius, tiling
            equals the untiled result up to float rounding (measured differences: docs/superres.md).
        range_in: 1 (full, default: microscopy data uses the whole code range) or 0 (limited), used only where
            the frames carry no ``_Range`` prop; None keeps VapourSynth's default (limited for GRAY).
        trust_engine: load a TensorRT engine given as ``model`` (default False: refused; an engine is native
            code that runs as it loads, see :func:`vs_colorize.models.check_engine_trust`).

    Returns:
        A GRAY clip of the source's sample type, ``scale``× wider and taller, frame props of frame n.

    Raises:
        vs.Error: non-GRAY or unsupported clip, bad arguments, a model of another kind or window, a runtime
            failure or NaN/Inf output (never a silent pass-through).
    """
    clip = check_clip(clip, FUNC, families=(vs.GRAY,))
    if range_in is not None:
        check_int(range_in, FUNC, "range_in", 0, 1)
    check_engine_trust(model, trust_engine, func=FUNC)
    chosen = get_backend(backend, func=FUNC, model_format=model_format(model), kind="superres")
    resolved = resolve_model(
        model, kind="superres", func=FUNC, precision=chosen.precision, formats=chosen.formats
    )
    info = resolved.info
    if info.window % 2 == 0:
        raise error(FUNC, f"model {resolved.name!r} has an even window ({info.window}); expected an odd one")
    src = color_props.normalize_props(clip, matrix=int(vs.MATRIX_UNSPECIFIED), range_in=range_in)
    grays = src if clip.format.id == vs.GRAYS else core.resize.Point(src, format=vs.GRAYS)
    clips = window(grays, info.window // 2)
    ranges = None
    if info.percentiles is not None:
        ranges = _window_ranges(clips, *info.percentiles)
        clips = [_map(c, ranges, inverse=False) for c in clips]
    width, height = clip.width * info.scale, clip.height * info.scale
    out, label = chosen.apply(
        clips, resolved.path, info, width=width, height=height, func=FUNC, tile=tile, overlap=overlap
    )
    if ranges is not None:
        out = _map(out, ranges, inverse=True)
    log.info("%s: %s at %dx on %s", FUNC, resolved.name, info.scale, label)
    out = core.std.CopyFrameProps(out, grays)
    if clip.format.id != vs.GRAYS:
        out = core.resize.Point(out, format=clip.format.id)
    return core.std.SetFrameProps(out, VSColorizeModel=resolved.name)
