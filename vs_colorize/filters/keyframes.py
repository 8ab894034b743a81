"""Keyframe colour: hand-coloured pictures for some frames, carried along the motion to the others.

At a keyframe the output chroma is the picture's, converted to the output format with the frame's own
matrix, range and chroma siting (the luma stays the source's). A frame ``n`` within ``reach`` frames of
a keyframe ``k`` of the same scene (no cut between them, same cut marks as the temporal smoothing)
gets the keyframe's chroma moved from ``k`` to ``n`` along vectors that MVTools searches directly
between the two frames' source luma (``delta = n - k``), from the nearest keyframe before and the one
after. Each carries a confidence per pixel:

* the compensation's own block rejection: a block whose luma SAD exceeds ``motion.THSAD_KEYFRAMES``
  (occlusion, uncovered background, a failed match) gets 0 (blocks overlap, so the edges are soft);
* the distance: ``1 - |n - k| / (reach + 1)``.

The output chroma is ``(m·model + p·prev + q·next) / (m + p + q)`` with ``m = (1 - p)(1 - q)``:
a confident keyframe dominates, the model fills in where neither keyframe can be trusted. Without a
keyframe in reach the model's chroma is used as it is.

With ``temporal_radius`` the blended chroma is smoothed afterwards (``scene_smoothing.smooth_chroma``, called
by ``colorize``), and the keyframes' own frames are put back unsmoothed.

MVTools takes integer 8–16 bit only, so the chroma is carried in 16 bit (float formats round-trip
through full-range 16 bit between keyframes; at the keyframes themselves nothing is rounded).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import vapoursynth as vs

from ..checks import error
from . import motion
from .scene_smoothing import cut_between, shift

log = logging.getLogger("vs_colorize")
core = vs.core
FUNC = "colorize"

#: What ``colorize(keyframes=...)`` takes: frame number → picture, or a folder of numbered images.
KeyframeSpec = Mapping[int, "str | os.PathLike[str] | vs.VideoNode | vs.VideoFrame"] | str | os.PathLike[str]
#: Picture suffixes looked for in a keyframe folder.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})
#: Luma correlation below which a keyframe is reported as not matching its frame.
MIN_CORRELATION = 0.9


def keyframe_files(folder: str | os.PathLike[str], *, func: str = FUNC) -> dict[int, Path]:
    """The images of ``folder`` named by frame number (``120.png``, ``000120.png``), by frame number."""
    path = Path(folder)
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        raise error(func, f"keyframes folder {os.fspath(folder)!r} {what}")
    files: dict[int, Path] = {}
    for f in sorted(path.iterdir()):
        if f.suffix.lower() not in IMAGE_SUFFIXES or not f.stem.isdigit():
            continue
        n = int(f.stem)
        if n in files:
            raise error(func, f"keyframes: {files[n].name} and {f.name} both name frame {n}")
        files[n] = f
    if not files:
        raise error(
            func, f"keyframes folder {os.fspath(folder)!r} holds no images named by frame number (000120.png)"
        )
    return files


def load_keyframes(spec: KeyframeSpec, num_frames: int, *, func: str = FUNC) -> dict[int, vs.VideoNode]:
    """Each keyframe as a one-frame RGB clip, checked (frame in range, a colour picture)."""
    items = keyframe_files(spec, func=func) if isinstance(spec, str | os.PathLike) else spec
    if not isinstance(items, Mapping):
        raise error(func, f"keyframes must be a mapping or a folder, got {type(spec).__name__}")
    out: dict[int, vs.VideoNode] = {}
    for n, item in sorted(items.items()):
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < num_frames:
            raise error(func, f"keyframes: frame number {n!r} is not in 0..{num_frames - 1}")
        clip = _picture(item, func)
        if clip.format.color_family != vs.RGB:
            raise error(
                func, f"keyframes: the picture for frame {n} is {clip.format.name}, not an RGB colour one"
            )
        out[n] = clip
    return out


def _picture(item: object, func: str) -> vs.VideoNode:
    if isinstance(item, vs.VideoNode):
        return item[0]
    if isinstance(item, vs.VideoFrame):
        frame = item.copy()
        blank = core.std.BlankClip(format=frame.format.id, width=frame.width, height=frame.height, length=1)
        return core.std.ModifyFrame(blank, blank, lambda n, f: frame.copy())
    if isinstance(item, str | os.PathLike):
        from ..io.still import still_source

        if not Path(item).is_file():
            raise error(func, f"keyframes: picture {os.fspath(item)!r} does not exist")
        return still_source(item)[0]
    raise error(func, f"keyframes: a picture must be a path, an RGB clip or frame, got {type(item).__name__}")


def propagate(
    yuv: vs.VideoNode,
    luma: vs.VideoNode,
    src: vs.VideoNode,
    pictures: Mapping[int, vs.VideoNode],
    cuts: vs.VideoNode,
    *,
    reach: int,
    matrix: int,
) -> vs.VideoNode:
    """``yuv`` (source luma + model chroma) with the keyframes' chroma put in and carried along.

    ``luma`` is the source luma (same depth as ``yuv``), ``src`` the normalised source (its frame props
    give each keyframe's matrix/range/siting; RGB sources use ``matrix`` and full range), ``cuts`` a
    clip whose frames carry ``_SceneChangePrev``.
    """
    keys = {k: _convert(pic, yuv, src, k, matrix) for k, pic in pictures.items()}
    for k, pic in keys.items():
        _check_luma(pic, luma, k)
    fmt16 = motion.format16(yuv.format)
    blank16 = core.std.BlankClip(yuv, format=fmt16.id, color=[0, 1 << 15, 1 << 15], keep=True)
    full = core.std.BlankClip(luma, format=vs.GRAY16, color=65535, length=1, keep=True)
    loops = {
        k: core.std.Loop(
            core.std.ShufflePlanes([full, motion.to16(p), motion.to16(p)], [0, 1, 2], vs.YUV), yuv.num_frames
        )
        for k, p in keys.items()
    }
    carried = core.std.FrameEval(blank16, lambda n: loops.get(n, blank16))
    search = motion.Search.for_size(yuv.width, yuv.height)
    analysis = motion.super_clip(motion.to16(_with_neutral_chroma(luma, yuv)), search)
    carried_super = motion.super_clip(carried, search, levels=1)
    model16 = motion.to16(yuv)
    key_nodes = {
        k: core.std.ShufflePlanes([yuv, core.std.Loop(p, yuv.num_frames)], [0, 1, 2], vs.YUV)
        for k, p in keys.items()
    }
    moved: dict[int, vs.VideoNode] = {}
    blends: dict[tuple[int, int], vs.VideoNode] = {}
    lock = threading.Lock()

    def moved_from(d: int) -> vs.VideoNode:
        if d not in moved:
            moved[d] = motion.compensate(
                carried, carried_super, motion.vectors(analysis, search, d), thsad=motion.THSAD_KEYFRAMES
            )
        return moved[d]

    def blend(dp: int, dn: int) -> vs.VideoNode:
        with lock:
            if (dp, dn) not in blends:
                blends[(dp, dn)] = _blend(yuv, model16, moved_from, dp, dn, reach)
            return blends[(dp, dn)]

    ordered = sorted(keys)

    def select(n: int, f: list[vs.VideoFrame]) -> vs.VideoNode:
        if n in key_nodes:
            return key_nodes[n]
        before = [k for k in ordered if n - reach <= k < n and not cut_between(f, k - n)]
        after = [k for k in ordered if n < k <= n + reach and not cut_between(f, k - n)]
        if not before and not after:
            return yuv
        return blend(n - before[-1] if before else 0, after[0] - n if after else 0)

    window = [shift(cuts, d) for d in range(-reach, reach + 1)]
    return core.std.FrameEval(yuv, select, prop_src=window)


def _blend(
    yuv: vs.VideoNode,
    model16: vs.VideoNode,
    moved_from: Callable[[int], vs.VideoNode],
    dp: int,
    dn: int,
    reach: int,
) -> vs.VideoNode:
    """Model chroma blended with the chroma moved from ``dp`` frames back and ``dn`` ahead (0: none)."""
    clips = [model16]
    weights = []
    for d in (-dp, dn):
        if d:
            comp = moved_from(d)
            clips += [comp, _mask(comp)]
            weights.append(1 - abs(d) / (reach + 1))
    p = [f"{m} 65535 / {w:.6f} *" for m, w in zip(("z", "b"), weights, strict=False)]
    if len(p) == 1:  # model + p·(carried - model)
        expr = f"y x - {p[0]} * x +"
    else:  # (m·x + p·y + q·a) / (m + p + q) with m = (1-p)(1-q), i.e. m + p + q = 1 + p·q
        # (written without "1 P - ... P +": VapourSynth R81's Expr folds "c e - e +" to 0)
        expr = f"x 1 {p[0]} - * 1 {p[1]} - * y {p[0]} * + a {p[1]} * + 1 {p[0]} {p[1]} * + /"
    mixed = core.std.Expr(clips, ["", expr])
    chroma = mixed if mixed.format.id == yuv.format.id else motion.convert(mixed, yuv.format)
    return core.std.ShufflePlanes([yuv, chroma], [0, 1, 2], vs.YUV)


def _mask(comp: vs.VideoNode) -> vs.VideoNode:
    """The carried-mask plane (65535 where the keyframe's block was taken) on every plane of ``comp``."""
    y = comp.std.ShufflePlanes(0, vs.GRAY)
    fmt = comp.format
    small = core.resize.Bilinear(y, y.width >> fmt.subsampling_w, y.height >> fmt.subsampling_h)
    return core.std.ShufflePlanes([y, small, small], [0, 0, 0], vs.YUV)


def _with_neutral_chroma(luma: vs.VideoNode, yuv: vs.VideoNode) -> vs.VideoNode:
    blank = core.std.BlankClip(yuv, keep=True)
    return core.std.ShufflePlanes([luma, blank], [0, 1, 2], vs.YUV)


def _convert(pic: vs.VideoNode, yuv: vs.VideoNode, src: vs.VideoNode, k: int, matrix: int) -> vs.VideoNode:
    """Keyframe ``k`` in ``yuv``'s format and size, with frame ``k``'s matrix, range and siting."""
    if src.format.color_family == vs.RGB:
        mat, rng, loc = matrix, 1, 0
    else:
        props = src.get_frame(k).props
        mat, rng, loc = int(props["_Matrix"]), int(props["_Range"]), int(props.get("_ChromaLocation", 0))
    if (pic.width, pic.height) != (yuv.width, yuv.height):
        log.info(
            "%s: keyframe %d is %dx%d, resized to the frame's %dx%d",
            FUNC, k, pic.width, pic.height, yuv.width, yuv.height,
        )  # fmt: skip
    return core.resize.Bicubic(
        pic, yuv.width, yuv.height, format=yuv.format.id, matrix=mat, range=rng, chromaloc=loc
    )


def _check_luma(pic: vs.VideoNode, luma: vs.VideoNode, k: int) -> None:
    """Warn when keyframe ``k``'s luma does not look like frame ``k``'s (a wrong frame number)."""
    w = min(128, luma.width)
    h = max(1, round(luma.height * w / luma.width))
    a, b = (
        np.asarray(
            core.resize.Bilinear(c.std.ShufflePlanes(0, vs.GRAY), w, h, format=vs.GRAYS).get_frame(i)[0]
        )
        for c, i in ((pic, 0), (luma, k))
    )
    if a.std() < 1e-6 or b.std() < 1e-6:
        corr = 1.0 if abs(float(a.mean() - b.mean())) < 0.05 else 0.0
    else:
        corr = float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    if corr < MIN_CORRELATION:
        log.warning(
            "%s: keyframe %d does not match frame %d: luma correlation %.2f (< %.2f); wrong frame number?",
            FUNC, k, k, corr, MIN_CORRELATION,
        )  # fmt: skip
