"""Issue 15 trial: MC smoothing that keeps the unmoved neighbour where the vectors are short (``mv.Mask``).

```sh
python scripts/mc_mask_trial.py --data ../shared/data
```

Same clips, sizes, model and numbers as ``scripts/temporal_report.py`` (256 px wide, 41 frames, ``demo``,
render_factor 10; ``err``, ``err moving``, ``flicker`` in 8-bit chroma codes, radius ``--radius``). Each
variant replaces ``scene_smoothing._smooth_mc`` for the run; the rest of ``colorize()`` is unchanged.

* ``blend lo-hi``: per neighbour (±1..r), the vectors the MC path compensates with are turned into a
  vector-length mask by ``mv.Mask(kind=0, ml=8)`` (MVTools: ``255 · min(1, length_px / ml)`` per block,
  bilinearly spread over the block grid), mapped to a weight that is 0 below ``lo`` px, 1 above ``hi`` px and
  linear between; the neighbour is then ``std.MaskedMerge(unmoved, compensated, weight)`` on U and V, so that
  short vectors (still background, jitter) take the neighbour as the plain average does and long ones take
  the compensated neighbour (with MVTools' block rejection as in ``mc``). Cuts are gated as in ``mc``.
* ``blend lo-hi, grown``: the same with the weight widened by one 3×3 maximum (``std.Maximum``).
* ``out lo-hi``: the final outputs merged instead: the plain average where the centre frame's ±1 vectors
  (the longer of the two) are short, the current ``mc`` output where they are long (same weight map).

Prints a markdown table; logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

import vapoursynth as vs
from temporal_report import add_clip_arguments, clip_inputs, score_mc_variant

from vs_colorize.backends import ORT
from vs_colorize.filters import motion, scene_smoothing
from vs_colorize.filters.scene_smoothing import cut_between, shift

log = logging.getLogger("mc_mask_trial")
core = vs.core
ML = 8.0  # mv.Mask scale: a vector of ML px or longer gives 255


def weight(mask8: vs.VideoNode, lo: float, hi: float, grow: bool) -> vs.VideoNode:
    """GRAY16 weight 0..65535 from ``mv.Mask``'s luma plane: 0 below ``lo`` px, 65535 above ``hi`` px."""
    y = core.std.ShufflePlanes(mask8, 0, vs.GRAY)
    a, b = lo * 255 / ML, hi * 255 / ML
    w = core.std.Expr(y, f"x {a} - {b - a} / 0 max 1 min 65535 *", format=vs.GRAY16)
    return core.std.Maximum(w) if grow else w


def blend_mc(
    lo: float, hi: float, grow: bool
) -> Callable[[vs.VideoNode, vs.VideoNode, vs.VideoNode, int], vs.VideoNode]:
    def smooth_mc(
        render: vs.VideoNode, grey: vs.VideoNode, marked: vs.VideoNode, radius: int
    ) -> vs.VideoNode:
        yuv = core.resize.Point(render, format=vs.YUV444PS, matrix=vs.MATRIX_BT709)
        work = motion.to16(core.std.ShufflePlanes([grey, yuv, yuv], [0, 1, 2], vs.YUV))
        search = motion.Search.for_size(render.width, render.height)
        pad = radius + 1
        work_p = core.std.BlankClip(work, length=pad) + work
        grey_p = motion.to16(core.std.BlankClip(grey, length=pad) + grey)
        grey8_p = core.resize.Point(grey_p, format=vs.GRAY8)
        analysis = motion.super_clip(grey_p, search)
        comp_super = motion.super_clip(work_p, search, levels=1)
        window = [shift(marked, d) for d in range(-radius, radius + 1)]
        members = [work]
        for d in (*range(-radius, 0), *range(1, radius + 1)):
            vecs = motion.vectors(analysis, search, d)
            moved = motion.compensate(work_p, comp_super, vecs)[pad:]
            w = weight(core.mv.Mask(grey8_p, vecs, kind=0, ml=ML, thscd1=motion.THSCD1), lo, hi, grow)[pad:]
            mixed = core.std.MaskedMerge(shift(work, d), moved, w, planes=[1, 2], first_plane=True)

            def gate(n: int, f: list[vs.VideoFrame], d: int = d) -> vs.VideoFrame:
                return (f[1] if cut_between(f[2:], d) else f[0]).copy()

            members.append(core.std.ModifyFrame(mixed, [mixed, work, *window], gate))
        mean = core.std.AverageFrames(members, weights=[1.0] * len(members))
        chroma = core.resize.Point(mean, format=vs.YUV444PS, range_in=1, range=1)
        merged = core.std.ShufflePlanes([yuv, chroma, chroma], [0, 1, 2], vs.YUV)
        return core.resize.Point(merged, format=vs.RGBS, matrix_in=vs.MATRIX_BT709)

    return smooth_mc


def output_mc(
    lo: float, hi: float, real: Callable[..., vs.VideoNode]
) -> Callable[[vs.VideoNode, vs.VideoNode, vs.VideoNode, int], vs.VideoNode]:
    def smooth_mc(
        render: vs.VideoNode, grey: vs.VideoNode, marked: vs.VideoNode, radius: int
    ) -> vs.VideoNode:
        mc = real(render, grey, marked, radius)
        avg = core.std.AverageFrames(marked, weights=[1.0] * (2 * radius + 1), scenechange=True)
        search = motion.Search.for_size(render.width, render.height)
        pad = 2
        grey_p = motion.to16(core.std.BlankClip(grey, length=pad) + grey)
        grey8_p = core.resize.Point(grey_p, format=vs.GRAY8)
        analysis = motion.super_clip(grey_p, search)
        masks = [
            core.mv.Mask(grey8_p, motion.vectors(analysis, search, d), kind=0, ml=ML, thscd1=motion.THSCD1)
            for d in (-1, 1)
        ]
        longer = core.std.Expr([core.std.ShufflePlanes(m, 0, vs.GRAY) for m in masks], "x y max")
        w = core.resize.Point(weight(longer, lo, hi, False)[pad:], format=vs.GRAYS)
        return core.std.MaskedMerge(avg, mc, w, first_plane=True)

    return smooth_mc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_clip_arguments(p)
    p.add_argument(
        "--ramps",
        nargs="+",
        default=["0.5-1.5", "1-2", "1.5-3", "2-4", "3-6", "4-8"],
        help="lo-hi vector lengths in px (mask weight 0 → 1)",
    )
    p.add_argument(
        "--grow", action="store_true", help="also the per-neighbour blend with the weight grown 3×3"
    )
    p.add_argument("--output-merge", action="store_true", help="also the merge of the final outputs")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    logging.getLogger("vs_colorize").setLevel(logging.WARNING)
    core.num_threads = 1
    backend = ORT(num_streams=1, intra_op_threads=1)
    r = args.radius
    lines = [
        f"{args.width} px wide, {args.frames} frames, render_factor {args.render_factor}, radius {r}",
        "",
        "| clip | mode | err | err moving | flicker |",
        "|---|---|---|---|---|",
    ]
    real = scene_smoothing._smooth_mc
    for name in args.clips:
        _, src, truth_c, moving = clip_inputs(args, name)
        modes: dict[str, tuple[str, Callable[..., vs.VideoNode] | None]] = {
            f"average {r}": ("average", None),
            f"mc {r}": ("mc", None),
        }
        for ramp in args.ramps:
            lo, hi = (float(v) for v in ramp.split("-"))
            modes[f"blend {ramp}"] = ("mc", blend_mc(lo, hi, False))
            if args.grow:
                modes[f"blend {ramp}, grown"] = ("mc", blend_mc(lo, hi, True))
            if args.output_merge:
                modes[f"out {ramp}"] = ("mc", output_mc(lo, hi, real))
        for mode, (kind, variant) in modes.items():
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
            log.info("%s %s: %s", name, mode, {k: round(v, 3) for k, v in m.items()})
            lines.append(f"| {name} | {mode} | {m['err']:.3f} | {m['err_moving']:.3f} | {m['flicker']:.3f} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
