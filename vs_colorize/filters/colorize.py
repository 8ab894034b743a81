"""``colorize``: DeOldify-style colorization as a VapourSynth filter.

Template: validate the clip and arguments → work out geometry → pick backend and model → build the
model input (grey at render size, in VapourSynth) → infer → upscale only the chroma → merge it with the
untouched source luma → set props.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import vapoursynth as vs

from .. import color_props
from ..backends import Backend, get_backend
from ..checks import check_choice, check_clip, check_float, check_int, error
from ..models import ResolvedModel, check_engine_trust, model_format, resolve_model
from . import motion, scene_smoothing
from .keyframes import KeyframeSpec, load_keyframes, propagate

log = logging.getLogger("vs_colorize")
core = vs.core
FUNC = "colorize"


@dataclass(frozen=True)
class Geometry:
    """Where the picture sits in the model input: ``content`` size, padded ``model`` size and offsets."""

    content_w: int
    content_h: int
    model_w: int
    model_h: int
    left: int = 0
    top: int = 0

    @property
    def right(self) -> int:
        return self.model_w - self.content_w - self.left

    @property
    def bottom(self) -> int:
        return self.model_h - self.content_h - self.top


def geometry(width: int, height: int, size: int, fit: str, multiple: int) -> Geometry:
    """Model-input geometry for a ``width``×``height`` frame at render size ``size``.

    ``stretch`` (DeOldify): the frame is squashed into ``size``×``size``. ``pad``: the long side becomes
    ``size``, the short side keeps the aspect ratio and is mirror-padded up to a multiple of ``multiple``
    (split evenly between both edges); the padding is cropped off the render again.
    """
    if fit == "stretch":
        return Geometry(size, size, size, size)
    if width >= height:
        ch = max(1, round(height * size / width))
        mh = -(-ch // multiple) * multiple
        return Geometry(size, ch, size, mh, top=(mh - ch) // 2)
    cw = max(1, round(width * size / height))
    mw = -(-cw // multiple) * multiple
    return Geometry(cw, size, mw, size, left=(mw - cw) // 2)


def mirror_pad(clip: vs.VideoNode, g: Geometry) -> vs.VideoNode:
    """Pad ``clip`` (content size) to the model size by mirroring its edges."""
    if g.left or g.right:
        parts = []
        if g.left:
            parts.append(clip.std.Crop(right=clip.width - g.left).std.FlipHorizontal())
        parts.append(clip)
        if g.right:
            parts.append(clip.std.Crop(left=clip.width - g.right).std.FlipHorizontal())
        clip = core.std.StackHorizontal(parts)
    if g.top or g.bottom:
        parts = []
        if g.top:
            parts.append(clip.std.Crop(bottom=clip.height - g.top).std.FlipVertical())
        parts.append(clip)
        if g.bottom:
            parts.append(clip.std.Crop(top=clip.height - g.bottom).std.FlipVertical())
        clip = core.std.StackVertical(parts)
    return clip


def colorize(
    clip: vs.VideoNode,
    model: str | os.PathLike[str] | None = None,
    render_factor: int = 21,
    backend: Backend | str | None = None,
    *,
    fit: str = "stretch",
    temporal_radius: int = 0,
    temporal_mode: str = "average",
    keyframes: KeyframeSpec | None = None,
    keyframe_reach: int = 30,
    scene_threshold: float = 0.1,
    matrix: int | None = None,
    range_in: int | None = None,
    subsampling: str | None = None,
    trust_engine: bool = False,
) -> vs.VideoNode:
    """Colorize a clip with a DeOldify-style model, keeping the source luma.

    The model sees the luma as grey RGB at ``16·render_factor`` and only its chroma is used: upscaled
    (bilinear, like DeOldify) in VapourSynth and merged with the source luma plane, which stays
    bit-identical for YUV and GRAY input.

    Args:
        clip: constant-format, constant-size GRAY, YUV (any subsampling) or RGB; integer 8–16 bit or
            float 16/32 bit. YUV in → same format out. GRAY in → YUV of the same depth
            (see ``subsampling``). RGB in → same RGB format out: the clip is converted to a float
            YUV 4:4:4 working space with ``matrix`` (default BT.709), its Y is kept, U/V come from the
            model, and it is converted back (luminance kept up to rounding in the output format: chroma
            that would leave the RGB cube is scaled down per pixel, see ``color_props.fit_gamut``).
        model: ``.onnx`` / ``.engine`` / ``.plan`` / ``.pt2`` path or a registry name (``video``,
            ``stable``, ``artistic``, ``demo``). None: ``video`` if installed, else ``demo``.
            GPU backends prefer a registry name's fp16 artifact, CPU backends fp32.
        render_factor: 4..64; the model runs at ``16·render_factor`` pixels (DeOldify's default 21 = 336).
        backend: None (fastest available, see ``vs_colorize.backends.autoselect``), a name
            (``"ort"``, ``"trt"``, ``"mlrt"``, ``"torch"``) or a configured backend instance
            (e.g. ``ORT(intra_op_threads=2, num_streams=2)``).
        fit: ``"stretch"`` (DeOldify: squash into a square) or ``"pad"`` (keep the aspect ratio: long
            side = render size, short side mirror-padded to a multiple of 16, cropped back after the
            model; needs a model with dynamic input size). Stretch gives colour casts on tall frames.
        temporal_radius: 0..7. 0 (default) = per frame, exactly like DeOldify. N > 0 averages the
            chroma over 2N+1 frames, never across a scene cut. Without keyframes it is the model's
            chroma, at render size; with keyframes it is the output chroma after the keyframe blend,
            on the output's chroma planes, and the keyframes' own frames keep the keyframe's chroma
            exactly.
        temporal_mode: ``"average"`` (plain mean of the 2N+1 frames) or ``"mc"`` (motion-compensated:
            each neighbour's chroma is moved onto the frame along vectors searched by MVTools on the
            model-input grey, or with keyframes on the source luma scaled to the chroma planes' size,
            before averaging; blocks whose compensation fails keep the frame's own chroma). With
            keyframes use ``"mc"``: the plain average smears their colour across moving edges
            (docs/temporal.md). ``"mc"`` needs the ``vapoursynth-mvtools`` package.
        keyframes: colour pictures for given frames: a mapping frame number → image path, RGB clip
            (its first frame) or RGB ``VideoFrame``, or a folder of images named by frame number
            (``000120.png``). At a keyframe the output chroma is the picture's (resized to the frame
            if needed); between keyframes of one scene it is carried along the motion of the source
            luma and blended with the model's chroma by confidence (see ``docs/temporal.md``), then
            smoothed as ``temporal_radius`` and ``temporal_mode`` say. A keyframe whose luma does not
            match its frame is logged as a warning. Needs MVTools.
        keyframe_reach: 1..120; how many frames a keyframe's colour is carried before and after it
            (its weight falls linearly to zero over that distance).
        scene_threshold: 0..1; mean absolute luma difference (at render size) that marks a cut, used
            when the source has no ``_SceneChangePrev``/``_SceneChangeNext`` props.
        matrix: YUV/GRAY: matrix coefficients (``vs.MatrixCoefficients`` value) assumed where
            ``_Matrix`` is missing or 2 (unspecified); default BT.709 for frames ≥ 1280 wide or ≥ 720
            high, else BT.601 (170M). RGB: the working-space matrix (default BT.709).
        range_in: 0 (limited) or 1 (full), assumed where neither ``_Range`` nor the deprecated
            ``_ColorRange`` says; default limited for YUV/GRAY, full for RGB.
        subsampling: GRAY input only: ``"420"`` or ``"444"`` output chroma. None (default): 4:2:0 when
            the frame size is even, 4:4:4 when a side is odd (4:2:0 cannot hold an odd size).
        trust_engine: load a TensorRT ``.engine``/``.plan`` given as ``model`` (default False: refused). An
            engine is native code that runs as it loads; say True only for engines you built or got over a
            trusted channel. Not needed for ``.onnx`` models, whose engines the TRT backend builds itself.

    Returns:
        The colorized clip. Frame props: ``_Matrix`` and ``_Range`` explicit, ``VSColorizeModel`` (the
        model's registry or file name), ``VSColorizeBackend`` (the runtime really used) and
        ``VSColorizeRenderFactor``.

    Raises:
        vs.Error: bad clip or argument, a missing/foreign/wrong-kind model, a render size the model does
            not accept; at frame request: inference failure or NaN output (never passed through).
    """
    clip = check_clip(clip, FUNC)
    rf = check_int(render_factor, FUNC, "render_factor", 4, 64)
    check_choice(fit, FUNC, "fit", ("stretch", "pad"))
    radius = check_int(temporal_radius, FUNC, "temporal_radius", 0, 7)
    check_choice(temporal_mode, FUNC, "temporal_mode", ("average", "mc"))
    reach = check_int(keyframe_reach, FUNC, "keyframe_reach", 1, 120)
    if (temporal_mode == "mc" and radius) or keyframes is not None:
        motion.require(FUNC)
    pictures = load_keyframes(keyframes, clip.num_frames) if keyframes is not None else {}
    threshold = check_float(scene_threshold, FUNC, "scene_threshold", 0.0, 1.0)
    if subsampling is not None:
        check_choice(subsampling, FUNC, "subsampling", ("420", "444"))
    family = clip.format.color_family
    if matrix is not None:
        check_int(matrix, FUNC, "matrix", 0, 255)
        if matrix not in color_props.YUV_MATRICES:
            raise error(
                FUNC, f"matrix must be a YUV matrix ({sorted(color_props.YUV_MATRICES)}), got {matrix}"
            )
    if range_in is not None:
        check_int(range_in, FUNC, "range_in", 0, 1)
    out_format = _output_format(clip, subsampling)

    check_engine_trust(model, trust_engine, func=FUNC)
    # Backend first (it decides the artifact format and precision), then the model.
    be = get_backend(backend, func=FUNC, model_format=model_format(model))
    resolved = resolve_model(model, kind="colorize", func=FUNC, precision=be.precision, formats=be.formats)
    size = 16 * rf
    geo = geometry(clip.width, clip.height, size, fit, resolved.info.multiple)
    if max(geo.left, geo.right) > geo.content_w or max(geo.top, geo.bottom) > geo.content_h:
        raise error(
            FUNC,
            f"fit='pad' cannot mirror-pad a {clip.width}x{clip.height} frame (it is {geo.content_w}x"
            f"{geo.content_h} at render size); use fit='stretch' or a larger render_factor",
        )
    _check_size(resolved, geo, fit)

    if family == vs.RGB:
        default = int(matrix if matrix is not None else vs.MATRIX_BT709)
    else:
        default = int(matrix if matrix is not None else color_props.default_matrix(clip.width, clip.height))
    src = color_props.normalize_props(clip, matrix=default, range_in=range_in, func=FUNC)
    # RGB: a float YUV 4:4:4 working space whose Y is kept; YUV/GRAY: the source luma plane itself.
    work = core.resize.Point(src, format=vs.YUV444PS, matrix=default) if family == vs.RGB else src
    luma = work if family == vs.GRAY else work.std.ShufflePlanes(0, vs.GRAY)

    grey = core.std.Limiter(
        core.resize.Bilinear(luma, geo.content_w, geo.content_h, format=vs.GRAYS), 0.0, 1.0
    )
    model_in = mirror_pad(grey, geo) if fit == "pad" else grey
    rgb = core.std.ShufflePlanes([model_in] * 3, [0, 0, 0], vs.RGB)
    rgb = core.std.SetFrameProps(rgb, _Matrix=int(vs.MATRIX_RGB))
    render, runtime = be.apply(
        [rgb], resolved.path, resolved.info, width=geo.model_w, height=geo.model_h, func=FUNC
    )
    if fit == "pad":
        render = render.std.Crop(geo.left, geo.right, geo.top, geo.bottom)
    render = core.std.Limiter(render, 0.0, 1.0)
    if not pictures:  # with keyframes the smoothing works on the blended output chroma instead (with_keys)
        render = scene_smoothing.smooth(render, grey, radius=radius, threshold=threshold, mode=temporal_mode)
    cuts = scene_smoothing.mark_scene_changes(grey, grey, threshold=threshold) if pictures else None

    def with_keys(yuv: vs.VideoNode) -> vs.VideoNode:
        if cuts is None:
            return yuv
        keyed = propagate(yuv, luma, src, pictures, cuts, reach=reach, matrix=default)
        return _smooth_keyed(keyed, luma, cuts, frozenset(pictures), radius=radius, mode=temporal_mode)

    if family == vs.RGB:
        out = _merge_rgb(src, work, render, out_format, default, with_keys)
    else:
        out = with_keys(_merge_yuv(src, render, out_format))
    log.info("%s: model %s at %dx%d on %s", FUNC, resolved.name, geo.model_w, geo.model_h, runtime)
    return core.std.SetFrameProps(
        out, VSColorizeModel=resolved.name, VSColorizeBackend=runtime, VSColorizeRenderFactor=rf
    )


def _smooth_keyed(
    keyed: vs.VideoNode,
    luma: vs.VideoNode,
    cuts: vs.VideoNode,
    keys: frozenset[int],
    *,
    radius: int,
    mode: str,
) -> vs.VideoNode:
    """``keyed`` (source luma + blended chroma) smoothed over ``2·radius+1`` frames, with the keyframes' own
    frames taken from ``keyed`` unsmoothed: their chroma stays exactly the keyframe's."""
    if radius == 0:
        return keyed
    smoothed = scene_smoothing.smooth_chroma(keyed, luma, cuts, radius=radius, mode=mode)
    return core.std.FrameEval(smoothed, lambda n: keyed if n in keys else smoothed)


def _merge_yuv(src: vs.VideoNode, render: vs.VideoNode, out_format: vs.VideoFormat) -> vs.VideoNode:
    """Source luma plane + the render's chroma converted per frame with the source's matrix/range/siting."""
    gray = src.format.color_family == vs.GRAY
    width, height = src.width, src.height

    def key(props: vs.FrameProps) -> tuple[int, int, int]:
        siting = 0 if gray else int(props.get("_ChromaLocation", 0))
        return int(props["_Matrix"]), int(props["_Range"]), siting

    def build(k: tuple[int, int, int]) -> vs.VideoNode:
        return core.resize.Bilinear(
            render, width, height, format=out_format.id, matrix=k[0], range=k[1], chromaloc=k[2]
        )

    template = core.std.BlankClip(src, format=out_format.id, keep=True)
    chroma = color_props.select_by_props(src, template, key, build)
    out = core.std.ShufflePlanes([src, chroma, chroma], [0, 1, 2], vs.YUV)
    if gray and out_format.subsampling_w:
        out = core.std.SetFrameProps(out, _ChromaLocation=0)
    return out


def _merge_rgb(
    src: vs.VideoNode,
    work: vs.VideoNode,
    render: vs.VideoNode,
    out_format: vs.VideoFormat,
    matrix: int,
    with_keys: Callable[[vs.VideoNode], vs.VideoNode],
) -> vs.VideoNode:
    """Working-space Y + the render's chroma, back to the source RGB format at the source's range."""
    chroma = core.resize.Bilinear(render, src.width, src.height, format=vs.YUV444PS, matrix=matrix)
    merged = with_keys(core.std.ShufflePlanes([work, chroma, chroma], [0, 1, 2], vs.YUV))
    if matrix in color_props.MATRIX_KRB:  # scale out-of-gamut chroma down rather than clip (clipping moves Y)
        merged = color_props.fit_gamut(merged, matrix)
    return color_props.select_by_props(
        src,
        core.std.BlankClip(src, keep=True),
        lambda props: int(props["_Range"]),
        lambda rng: core.resize.Point(merged, format=out_format.id, matrix_in=matrix, range=rng),
    )


def _output_format(clip: vs.VideoNode, subsampling: str | None) -> vs.VideoFormat:
    fmt = clip.format
    if fmt.color_family != vs.GRAY:
        return fmt
    if subsampling is None:
        subsampling = "444" if clip.width % 2 or clip.height % 2 else "420"
    sub = 1 if subsampling == "420" else 0
    if sub and (clip.width % 2 or clip.height % 2):
        raise error(
            FUNC,
            f"subsampling='420' needs an even frame size, got {clip.width}x{clip.height}; pass subsampling='444'",
        )
    return core.query_video_format(vs.YUV, fmt.sample_type, fmt.bits_per_sample, sub, sub)


def _check_size(resolved: ResolvedModel, geo: Geometry, fit: str) -> None:
    info = resolved.info
    if info.accepts(geo.model_h, geo.model_w):
        return
    if info.static_size is not None:
        hint = "fit='pad' needs a dynamic model" if fit == "pad" else "pick the matching render_factor"
        raise error(
            FUNC,
            f"model {resolved.name!r} was exported for a static {info.static_size[1]}x{info.static_size[0]} "
            f"input, but render_factor/fit ask for {geo.model_w}x{geo.model_h} ({hint})",
        )
    assert info.dynamic_range is not None  # set exactly when static_size is not
    lo, hi = info.dynamic_range
    raise error(
        FUNC,
        f"model {resolved.name!r} accepts sides {lo}..{hi} in multiples of {info.multiple}, "
        f"but render_factor/fit ask for {geo.model_w}x{geo.model_h}",
    )
