"""Optional temporal chroma smoothing with scene-cut resets.

The model's render (RGBS at render size) is averaged over ``2·radius+1`` frames with
``std.AverageFrames(scenechange=True)``, which never averages across a frame marked with
``_SceneChangePrev`` / ``_SceneChangeNext``. RGB → YUV is linear in float, so averaging the render
averages its chroma exactly; its luma is discarded afterwards anyway (the source luma is kept).

Scene cuts come from the source when it already carries those props (e.g. from ``misc.SCDetect``);
otherwise they are computed here: the mean absolute difference of the model-input grey between a
frame and the previous one (``std.PlaneStats``) above ``threshold`` marks a cut.
"""

from __future__ import annotations

import vapoursynth as vs

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


def smooth(render: vs.VideoNode, grey: vs.VideoNode, *, radius: int, threshold: float) -> vs.VideoNode:
    """Average ``render`` over ``2·radius+1`` frames, reset at scene cuts (``radius=0``: unchanged)."""
    if radius == 0:
        return render
    marked = mark_scene_changes(render, grey, threshold=threshold)
    return core.std.AverageFrames(marked, weights=[1.0] * (2 * radius + 1), scenechange=True)
