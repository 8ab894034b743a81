"""Optional temporal chroma smoothing with scene-cut resets.

Two modes at the same radius: ``"average"`` (plain) and ``"mc"`` (motion-compensated). Without keyframes
:func:`smooth` works on the model's render (below); with keyframes ``colorize`` smooths the blended output
chroma instead with :func:`smooth_chroma` (same modes, radius and cut marks, on the output chroma planes; MC
vectors are searched on the source luma scaled to the chroma planes' size), so that the smoothing acts on what
the user gets rather than on the model's small share of the blend.

Plain average: the model's render (RGBS at render size) is averaged over ``2·radius+1`` frames with
``std.AverageFrames(scenechange=True)``, which never averages across a frame marked with
``_SceneChangePrev`` / ``_SceneChangeNext``. RGB → YUV is linear in float, so averaging the render
averages its chroma exactly; its luma is discarded afterwards anyway (the source luma is kept).

Scene cuts come from the source when it already carries those props (e.g. from ``misc.SCDetect``);
otherwise they are computed here: the mean absolute difference of the model-input grey between a
frame and the previous one (``std.PlaneStats``) above ``threshold`` marks a cut.

Motion-compensated: vectors are searched on the model-input grey (MVTools, see ``motion``) and each
neighbour's chroma (BT.709, 16 bit) is moved onto the current frame before the chroma is averaged.
Blocks whose compensation fails (luma SAD above ``motion.THSAD``) are the current frame's own chroma, and
a neighbour beyond a cut (same marks as above) is replaced by the current frame. The render's own luma
is kept per frame (it is discarded later anyway: only chroma reaches the output).
"""

from __future__ import annotations

import vapoursynth as vs

from . import motion

core = vs.core


def mark_scene_changes(render: vs.VideoNode, grey: vs.VideoNode, *, threshold: float) -> vs.VideoNode:
    """Copy of ``render`` whose frames carry ``_SceneChangePrev`` / ``_SceneChangeNext``.

    ``grey`` is a GRAYS clip of the same length whose frame differences decide the cuts. Props already
    present on ``render``'s frames (inherited from the source) are kept as they are.
    """
    prev = grey[0] + grey[:-1] if grey.num_frames > 1 else grey
    stats = core.std.PlaneStats(grey, prev, prop="VSCSC")
    nxt = stats[1:] + stats[-1] if stats.num_frames > 1 else stats
    last = render.num_frames - 1

    def mark(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
        out = f[0].copy()
        props = out.props
        if "_SceneChangePrev" not in props:
            props["_SceneChangePrev"] = int(n == 0 or f[1].props["VSCSCDiff"] > threshold)
        if "_SceneChangeNext" not in props:
            props["_SceneChangeNext"] = int(n == last or f[2].props["VSCSCDiff"] > threshold)
        return out

    return render.std.ModifyFrame([render, stats, nxt], mark)


def shift(clip: vs.VideoNode, d: int) -> vs.VideoNode:
    """``clip`` moved by ``d`` frames: frame ``n`` of the result is ``clip[n + d]``, clamped at the ends."""
    if d == 0 or clip.num_frames == 1:
        return clip
    d = max(-(clip.num_frames - 1), min(clip.num_frames - 1, d))
    if d > 0:
        return clip[d:] + clip[-1] * d
    return clip[0] * -d + clip[:d]


def cut_between(flags: list[vs.VideoFrame], d: int) -> bool:
    """Whether a cut lies between frame ``n`` and ``n + d``, given the marked frames ``n-R .. n+R``."""
    r = len(flags) // 2
    span = range(r + 1, r + d + 1) if d > 0 else range(r + d + 1, r + 1)
    return any(flags[i].props.get("_SceneChangePrev", 0) for i in span)


def smooth(
    render: vs.VideoNode, grey: vs.VideoNode, *, radius: int, threshold: float, mode: str = "average"
) -> vs.VideoNode:
    """Average ``render`` over ``2·radius+1`` frames, reset at scene cuts (``radius=0``: unchanged)."""
    if radius == 0:
        return render
    marked = mark_scene_changes(render, grey, threshold=threshold)
    if mode == "average":
        return core.std.AverageFrames(marked, weights=[1.0] * (2 * radius + 1), scenechange=True)
    return _smooth_mc(render, grey, marked, radius)


def smooth_chroma(
    yuv: vs.VideoNode, luma: vs.VideoNode, cuts: vs.VideoNode, *, radius: int, mode: str = "average"
) -> vs.VideoNode:
    """The chroma planes of ``yuv`` (a YUV clip at output size) smoothed over ``2·radius+1`` frames; its luma
    plane and frame props are kept as they are (``radius=0``: unchanged).

    This is the smoothing with keyframes, applied to the blended output chroma: ``luma`` is ``yuv``'s luma (the
    source's, the MC vectors are searched on it) and ``cuts`` a clip of the same length whose frames carry
    ``_SceneChangePrev`` / ``_SceneChangeNext`` (:func:`mark_scene_changes`), so that the cuts are the same as
    at render size. ``"average"`` is ``std.AverageFrames(scenechange=True)`` on the U and V planes;
    ``"mc"`` is :func:`_aligned_mean` in 16 bit on the chroma planes' own grid (:func:`_chroma_grid_mean`;
    float chroma round-trips through full-range 16 bit).
    """
    if radius == 0:
        return yuv
    if mode == "average":
        marked = core.std.CopyFrameProps(yuv, cuts, props=["_SceneChangePrev", "_SceneChangeNext"])
        mean = core.std.AverageFrames(
            marked, weights=[1.0] * (2 * radius + 1), scenechange=True, planes=[1, 2]
        )
    else:
        mean = motion.convert(_chroma_grid_mean(motion.to16(yuv), luma, cuts, radius), yuv.format)
    return core.std.ShufflePlanes([yuv, mean], [0, 1, 2], vs.YUV)


def _chroma_grid_mean(
    yuv16: vs.VideoNode, luma: vs.VideoNode, cuts: vs.VideoNode, radius: int
) -> vs.VideoNode:
    """``yuv16`` (16-bit YUV) with its chroma planes replaced by :func:`_aligned_mean` worked out on the chroma
    planes' own grid (:func:`motion.chroma_grid`: the chroma as it is, ``luma`` scaled to its size as the
    vectors' guide; 4:4:4 is worked on as before), with blocks covering the same part of the picture as at
    output size (:meth:`motion.Search.for_chroma_grid`). For 4:2:0 MVTools then works on a quarter of the
    output's pixels and the chroma is no longer moved by rounded-down halved luma vectors (docs/temporal.md)."""
    guide = motion.chroma_guide(luma, yuv16)
    mean = _aligned_mean(
        motion.chroma_grid(yuv16, guide), guide, cuts, radius, motion.Search.for_chroma_grid(yuv16)
    )
    return motion.from_chroma_grid(yuv16, mean)


def _smooth_mc(render: vs.VideoNode, grey: vs.VideoNode, marked: vs.VideoNode, radius: int) -> vs.VideoNode:
    yuv = core.resize.Point(render, format=vs.YUV444PS, matrix=vs.MATRIX_BT709)
    work = motion.to16(core.std.ShufflePlanes([grey, yuv, yuv], [0, 1, 2], vs.YUV))
    mean = _aligned_mean(work, grey, marked, radius)
    chroma = core.resize.Point(mean, format=vs.YUV444PS, range_in=1, range=1)
    merged = core.std.ShufflePlanes([yuv, chroma, chroma], [0, 1, 2], vs.YUV)
    return core.resize.Point(merged, format=vs.RGBS, matrix_in=vs.MATRIX_BT709)


def _aligned_mean(
    work: vs.VideoNode,
    grey: vs.VideoNode,
    marked: vs.VideoNode,
    radius: int,
    search: motion.Search | None = None,
) -> vs.VideoNode:
    """Mean of ``work`` (16-bit YUV) over ``2·radius+1`` frames, each neighbour moved onto the frame along
    vectors searched on the luma of ``grey`` and replaced by the frame itself beyond a cut (``marked``'s props).

    ``grey`` has ``work``'s size and length: YUV of ``work``'s subsampling, or GRAY when ``work`` is 4:4:4
    (``mv.Compensate`` takes the chroma subsampling from the vectors' clip: a GRAY one with 4:2:0 chroma
    crashed it). ``search``: block size and overlap (default :meth:`motion.Search.for_size` of ``work``)."""
    search = search or motion.Search.for_size(work.width, work.height)
    # MVTools' constructors read frame 0 of their super and vector clips (for the super's and the search's
    # props), and a vector frame 0 needs frames 0..radius. Built on ``work`` itself, that ran the model on
    # frames 0..radius while the graph was being built (every CLI chunk paid for them, and timings that start
    # after ``colorize()`` returned missed them). Here the clips MVTools sees start with ``pad`` blank frames,
    # which is all its constructors touch; output frame n is frame n + pad of the padded graph. The blank
    # frames are never averaged in: frame 0 is marked as a cut, so neighbours before it are the frame itself.
    pad = radius + 1
    work_p = core.std.BlankClip(work, length=pad) + work
    grey_p = motion.to16(core.std.BlankClip(grey, length=pad) + grey)
    analysis = motion.super_clip(grey_p, search)
    comp_super = motion.super_clip(work_p, search, levels=1)
    window = [shift(marked, d) for d in range(-radius, radius + 1)]
    members = [work]
    for d in (*range(-radius, 0), *range(1, radius + 1)):
        moved = motion.compensate(work_p, comp_super, motion.vectors(analysis, search, d))[pad:]

        def gate(n: int, f: list[vs.VideoFrame], d: int = d) -> vs.VideoFrame:
            return (f[1] if cut_between(f[2:], d) else f[0]).copy()

        members.append(core.std.ModifyFrame(moved, [moved, work, *window], gate))
    return core.std.AverageFrames(members, weights=[1.0] * len(members))
