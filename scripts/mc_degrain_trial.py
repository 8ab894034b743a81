"""Issue 15 trial: MVTools' own SAD-weighted temporal filter (``mv.Degrain1..6``) as ``temporal_mode="mc"``.

```sh
python scripts/mc_degrain_trial.py --data ../shared/data
```

Same clips, sizes, model and numbers as ``scripts/temporal_report.py`` (256 px wide, 41 frames, ``demo``,
render_factor 10; ``err``, ``err moving``, ``flicker`` in 8-bit chroma codes). For each radius in
``--radii`` it renders the plain average, the current ``mc`` and, for each ``--thsad``, a Degrain variant
that replaces ``scene_smoothing._smooth_mc`` for the run (the rest of ``colorize()`` is unchanged):

* the clip MVTools filters is the one the current MC path builds: the model-input grey as Y and the
  render's BT.709 chroma as U and V, 4:4:4, 16 bit; so the luma the SAD is measured on is exactly the grey
  the vectors were searched on;
* vectors ±1..r from the same search as the current MC path (``motion.vectors`` on ``mv.Super`` of the grey:
  8×8 blocks, overlap 4, half-pixel, truemotion, luma only);
* ``mv.Degrain{r}(plane=3)``: only U and V are filtered; each neighbour's block gets MVTools' weight
  ``(thsad² − SAD²) / (thsad² + SAD²)`` (0 above ``thsad``), the frame's own weight 1, ``thsadc = thsad``;
  MVTools' scene check is off (``thscd1`` at its maximum), as in the current MC path.

The variant does not gate cuts (the current MC path and the plain average do); the ``cuts`` column counts
the cut marks the smoothing sees in each clip (frame 0 not counted), so where it is 0 the comparison is
exact. Prints a markdown table; logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

import vapoursynth as vs
from temporal_report import add_clip_arguments, clip_inputs, score_mc_variant

from vs_colorize.backends import ORT
from vs_colorize.filters import motion

log = logging.getLogger("mc_degrain_trial")
core = vs.core


def degrain_mc(
    thsad: int, seen: list[vs.VideoNode]
) -> Callable[[vs.VideoNode, vs.VideoNode, vs.VideoNode, int], vs.VideoNode]:
    """A drop-in for ``scene_smoothing._smooth_mc`` that smooths the chroma with ``mv.Degrain{radius}``."""

    def smooth_mc(
        render: vs.VideoNode, grey: vs.VideoNode, marked: vs.VideoNode, radius: int
    ) -> vs.VideoNode:
        seen.append(marked)
        yuv = core.resize.Point(render, format=vs.YUV444PS, matrix=vs.MATRIX_BT709)
        work = motion.to16(core.std.ShufflePlanes([grey, yuv, yuv], [0, 1, 2], vs.YUV))
        search = motion.Search.for_size(render.width, render.height)
        pad = radius + 1  # as in _smooth_mc: MVTools' constructors read frame 0, which is blank here
        work_p = core.std.BlankClip(work, length=pad) + work
        grey_p = motion.to16(core.std.BlankClip(grey, length=pad) + grey)
        analysis = motion.super_clip(grey_p, search)
        vecs = []
        for d in range(1, radius + 1):  # Degrain's order: backward (towards n + d), forward, per distance
            vecs += [motion.vectors(analysis, search, d), motion.vectors(analysis, search, -d)]
        degrain = getattr(core.mv, f"Degrain{radius}")
        sup = motion.super_clip(work_p, search, levels=1)
        out = degrain(work_p, sup, *vecs, thsad=thsad, thsadc=thsad, plane=3, thscd1=motion.THSCD1)[pad:]
        chroma = core.resize.Point(out, format=vs.YUV444PS, range_in=1, range=1)
        merged = core.std.ShufflePlanes([yuv, chroma, chroma], [0, 1, 2], vs.YUV)
        return core.resize.Point(merged, format=vs.RGBS, matrix_in=vs.MATRIX_BT709)

    return smooth_mc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_clip_arguments(p, radius=False)
    p.add_argument("--radii", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--thsad", type=int, nargs="+", default=[400, 1000])
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    logging.getLogger("vs_colorize").setLevel(logging.WARNING)
    if any(not 1 <= r <= 6 for r in args.radii):
        p.error("--radii: MVTools has Degrain1..Degrain6")
    core.num_threads = 1
    backend = ORT(num_streams=1, intra_op_threads=1)
    lines = [
        f"{args.width} px wide, {args.frames} frames, render_factor {args.render_factor}",
        "",
        "| clip | mode | err | err moving | flicker | cuts |",
        "|---|---|---|---|---|---|",
    ]
    for name in args.clips:
        _, src, truth_c, moving = clip_inputs(args, name)
        for r in args.radii:
            modes: dict[str, tuple[str, int | None]] = {
                f"average {r}": ("average", None),
                f"mc {r}": ("mc", None),
            }
            modes |= {f"degrain {r}, thsad {t}": ("mc", t) for t in args.thsad}
            for mode, (kind, thsad) in modes.items():
                seen: list[vs.VideoNode] = []
                variant = degrain_mc(thsad, seen) if thsad is not None else None
                m = score_mc_variant(
                    src,
                    truth_c,
                    moving,
                    backend,
                    render_factor=args.render_factor,
                    radius=r,
                    mode=kind,
                    variant=variant,
                )
                cuts = "–"
                if seen:
                    cuts = str(sum(int(f.props["_SceneChangePrev"]) for f in seen[0].frames()) - 1)
                log.info("%s %s: %s", name, mode, {k: round(v, 3) for k, v in m.items()})
                lines.append(
                    f"| {name} | {mode} | {m['err']:.2f} | {m['err_moving']:.2f} | {m['flicker']:.2f} | {cuts} |"
                )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
