"""Colour props of VapourSynth frames: reading ``_Matrix``/``_Range`` with their fallbacks, writing them explicitly,
and choosing a node per frame by its props (for resize outputs, which cannot follow props themselves)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

import vapoursynth as vs

core = vs.core

#: Matrix coefficients a YUV clip may carry (vs.MatrixCoefficients minus RGB, unspecified and reserved).
#: Matrices zimg converts only with transfer/primaries details a clip rarely carries (BT.2020 constant
#: luminance, chroma-derived, ICtCp): refused with a clear error instead of zimg's at frame time.
UNCONVERTIBLE_MATRICES = frozenset({10, 12, 13, 14})
YUV_MATRICES = frozenset(int(m) for m in vs.MatrixCoefficients) - {0, 2, 3} - UNCONVERTIBLE_MATRICES


def default_matrix(width: int, height: int) -> int:
    """BT.709 (1) for HD frames (width ≥ 1280 or height ≥ 720), else BT.601 / SMPTE 170M (6)."""
    return int(vs.MATRIX_BT709) if width >= 1280 or height >= 720 else int(vs.MATRIX_ST170_M)


#: (Kr, Kb) of the YUV matrices whose RGB gamut :func:`fit_gamut` knows (H.273 code points).
MATRIX_KRB: dict[int, tuple[float, float]] = {
    1: (0.2126, 0.0722), 4: (0.30, 0.11), 5: (0.299, 0.114), 6: (0.299, 0.114), 7: (0.212, 0.087),
    9: (0.2627, 0.0593),
}  # fmt: skip


def fit_gamut(clip: vs.VideoNode, matrix: int) -> vs.VideoNode:
    """Scale each pixel's chroma of a YUV444PS ``clip`` just enough that ``matrix`` maps it into RGB 0..1.

    Y is untouched, so the luma of the RGB picture equals the source luma up to the final rounding:
    plain clipping of out-of-gamut RGB (strong colour on near-black or near-white pixels) moves it by
    several code values. ``matrix`` must be a key of :data:`MATRIX_KRB`.
    """
    kr, kb = MATRIX_KRB[matrix]
    kg = 1.0 - kr - kb
    yc = "x 0 max 1 min"
    deltas = (
        f"z {2 * (1 - kr)} *",
        f"y {2 * (1 - kb)} *",
        f"0 y {2 * kb * (1 - kb) / kg} * z {2 * kr * (1 - kr) / kg} * + -",
    )

    def limit(d: str) -> str:  # the largest chroma scale keeping Y + d inside 0..1
        return f"{d} 0 > 1 {yc} - {d} / {d} 0 < 0 {yc} - {d} / 1 ? ?"

    scale = " ".join(["1", *(f"{limit(d)} min" for d in deltas)])
    planes = [core.std.ShufflePlanes(clip, p, vs.GRAY) for p in range(3)]
    u = core.std.Expr(planes, f"y {scale} 0 max *")
    v = core.std.Expr(planes, f"z {scale} 0 max *")
    return core.std.ShufflePlanes([clip, u, v], [0, 0, 0], vs.YUV)


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


def check_matrix(props: vs.FrameProps, func: str, n: int) -> None:
    """Raise ``vs.Error`` naming ``func`` and frame ``n`` when ``_Matrix`` is one zimg cannot convert."""
    value = props.get("_Matrix")
    if value is not None and int(value) in UNCONVERTIBLE_MATRICES:
        name = vs.MatrixCoefficients(int(value)).name
        raise vs.Error(
            f"{func}: frame {n} is tagged _Matrix={int(value)} ({name}), which cannot be converted without "
            "more colour information; convert the clip to a BT.709/BT.601/BT.2020 (NCL) Y'CbCr matrix first"
        )


def normalize_props(
    clip: vs.VideoNode, *, matrix: int, range_in: int | None, func: str | None = None
) -> vs.VideoNode:
    """Write explicit ``_Matrix`` and ``_Range`` on every frame and drop the deprecated ``_ColorRange``.

    ``matrix`` replaces a missing or unspecified ``_Matrix`` (RGB always gets 0); ``range_in`` replaces a
    missing range (see :func:`frame_range`). Planes are not touched (the frame data is shared). With
    ``func``, a frame whose matrix cannot be converted raises (:func:`check_matrix`).
    """
    family = clip.format.color_family

    def fix(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        props = out.props
        if func is not None and family != vs.RGB:
            check_matrix(props, func, n)
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
