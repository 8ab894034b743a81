"""Why ``temporal_mode="mc"`` smooths less than the plain average (docs/temporal.md), one command:

```sh
python scripts/mc_diagnostics.py --data ../shared/data
```

The same clips, sizes and model as ``scripts/temporal_report.py`` (256 px wide, 41 frames, ``demo``,
render_factor 10, radius 2). ``colorize()`` is run with ``temporal_mode="mc"`` while
``scene_smoothing.smooth`` is wrapped, to get the exact render and grey its MC smoothing works on; on those:

* ``rejected``: the share of the frame that MVTools' SAD test takes from the current frame instead of the
  neighbour (measured by compensating a clip whose U plane is ``1000·(n+1)`` on frame ``n``), per distance;
* ``|comp−c|`` / ``|raw−c|``: mean absolute difference (8-bit codes, U and V) of the compensated and of the
  unmoved neighbour chroma from the frame's own chroma;
* ``disp static`` / ``jitter``: mean length (pixels at render size) of the displacement that compensation
  applies on *static* pixels (the original's luma at render size changes by at most 2 codes over the 5-frame
  window), measured by compensating a coordinate ramp, and its mean change from one frame to the next;
* ``zero-motion max``: the largest chroma difference (codes) between the plain average and the MC smoothing
  fed a frozen grey (frame 0 repeated: every vector is 0 and every block passes), i.e. a check that the MC
  path itself (weights, gating, plane handling, conversions) is the plain average when nothing moves;
* ``still change``: the mean frame-to-frame chroma change of the output on static pixels (codes), for the
  model alone, the plain average and MC.

Prints a markdown table; logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import vapoursynth as vs
from temporal_report import add_clip_arguments, arrays, grey, load

from vs_colorize import colorize
from vs_colorize.backends import ORT
from vs_colorize.filters import motion, scene_smoothing

log = logging.getLogger("mc_diagnostics")
core = vs.core


def planes(clip: vs.VideoNode, n: int, idx: tuple[int, ...]) -> np.ndarray:
    f = clip.get_frame(n)
    return np.stack([np.asarray(f[p], dtype=np.float64) for p in idx])


def diagnose(data: Path, name: str, args: argparse.Namespace) -> dict[str, float]:
    """The numbers of one clip (see the module docstring)."""
    r = args.radius
    truth = load(data, name, args.width, args.frames)
    src = grey(truth)
    backend = ORT(num_streams=1, intra_op_threads=1)
    captured: dict[str, vs.VideoNode] = {}
    real_smooth = scene_smoothing.smooth

    def spy(
        render: vs.VideoNode, grey: vs.VideoNode, *, radius: int, threshold: float, mode: str = "average"
    ) -> vs.VideoNode:
        captured["render"], captured["grey"] = render, grey
        return real_smooth(render, grey, radius=radius, threshold=threshold, mode=mode)

    scene_smoothing.smooth = spy
    try:
        outs = {
            "model": colorize(src, "demo", args.render_factor, backend),
            "average": colorize(src, "demo", args.render_factor, backend, temporal_radius=r),
            "mc": colorize(src, "demo", args.render_factor, backend, temporal_radius=r, temporal_mode="mc"),
        }
    finally:
        scene_smoothing.smooth = real_smooth
    render, g = captured["render"], captured["grey"]
    w, h, length = render.width, render.height, render.num_frames
    yuv = core.resize.Point(render, format=vs.YUV444PS, matrix=vs.MATRIX_BT709)
    work = motion.to16(core.std.ShufflePlanes([g, yuv, yuv], [0, 1, 2], vs.YUV))
    search = motion.Search.for_size(w, h)
    analysis = motion.super_clip(work, search)

    def marked(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        np.asarray(out[1])[:] = 1000 * (n + 1)
        np.asarray(out[2])[:] = 0
        return out

    def ramp(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        np.asarray(out[1])[:] = 256 * np.arange(w)[None, :]
        np.asarray(out[2])[:] = 256 * np.arange(h)[:, None]
        return out

    probes = {k: work.std.ModifyFrame(work, fn) for k, fn in (("marked", marked), ("ramp", ramp))}
    supers = {k: motion.super_clip(c, search, levels=1) for k, c in probes.items()}
    work_super = motion.super_clip(work, search, levels=1)
    still = static_mask(core.resize.Bilinear(truth.std.ShufflePlanes(0, vs.GRAY), w, h), r)
    frames = range(r, length - r)
    rejected, comp_c, raw_c, disp, jitter = [], [], [], [], []
    for d in (*range(-r, 0), *range(1, r + 1)):
        vecs = motion.vectors(analysis, search, d)
        mk = motion.compensate(probes["marked"], supers["marked"], vecs)
        rp = motion.compensate(probes["ramp"], supers["ramp"], vecs)
        moved = motion.compensate(work, work_super, vecs)
        prev = None
        for n in frames:
            u = planes(mk, n, (1,))[0] / 1000
            rejected.append(float(((n + d + 1) - u).mean() / d))
            c = planes(work, n, (1, 2))
            comp_c.append(float(np.abs(planes(moved, n, (1, 2)) - c).mean()) / 257)
            raw_c.append(float(np.abs(planes(work, n + d, (1, 2)) - c).mean()) / 257)
            xy = planes(rp, n, (1, 2)) / 256
            dx, dy = xy[0] - np.arange(w)[None, :], xy[1] - np.arange(h)[:, None]
            if still[n].any():
                disp.append(float(np.hypot(dx, dy)[still[n]].mean()))
            if prev is not None and (still[n] & still[n - 1]).any():
                both = still[n] & still[n - 1]
                jitter.append(float(np.hypot(dx - prev[0], dy - prev[1])[both].mean()))
            prev = (dx, dy)
    # zero motion: the MC path fed a frozen grey must be the plain average
    frozen = g[0] * length
    marks = scene_smoothing.mark_scene_changes(render, g, threshold=0.1)
    zero = scene_smoothing._smooth_mc(render, frozen, marks, r)
    plain = core.std.AverageFrames(marks, weights=[1.0] * (2 * r + 1), scenechange=True)
    as16 = [core.resize.Point(c, format=vs.YUV444P16, matrix=vs.MATRIX_BT709, range=1) for c in (zero, plain)]
    zero_max = max(
        float(np.abs(planes(as16[0], n, (1, 2)) - planes(as16[1], n, (1, 2))).max()) / 257
        for n in range(length)
    )
    result: dict[str, float] = {
        "rejected": float(np.mean(rejected)),
        "comp_c": float(np.mean(comp_c)),
        "raw_c": float(np.mean(raw_c)),
        "static_share": float(still[r : length - r].mean()),
        "disp_static": float(np.mean(disp)),
        "jitter_static": float(np.mean(jitter)),
        "zero_motion_max": zero_max,
    }
    # the outputs' frame-to-frame chroma change on static pixels, on the output's chroma grid
    still_c = static_mask(
        core.resize.Bilinear(truth.std.ShufflePlanes(0, vs.GRAY), truth.width // 2, truth.height // 2), r
    )
    both = np.repeat((still_c[1:] & still_c[:-1])[:, None], 2, axis=1)
    for mode, out in outs.items():
        c = arrays(out)[1]
        result[f"still_change_{mode}"] = float(np.abs(np.diff(c, axis=0))[both].mean())
    log.info("%s: %s", name, {k: round(v, 3) for k, v in result.items()})
    return result


def static_mask(luma: vs.VideoNode, radius: int) -> np.ndarray:
    """T×H×W: pixels whose luma changes by at most 2 codes from one frame to the next throughout ±radius."""
    y = np.stack([np.asarray(f[0], dtype=np.float64) for f in luma.frames()])
    change = np.zeros(y.shape, dtype=bool)
    change[1:] = np.abs(np.diff(y, axis=0)) > 2
    still = ~change
    for s in range(1, radius + 1):
        still &= ~np.roll(change, s, axis=0) & ~np.roll(change, -s, axis=0)
    still[:radius] = still[-radius:] = False
    return still


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_clip_arguments(p)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    core.num_threads = 1
    rows = {name: diagnose(args.data, name, args) for name in args.clips}
    lines = [
        f"{args.width} px wide, {args.frames} frames, render_factor {args.render_factor}, radius {args.radius}",
        "",
        "| clip | rejected | \\|comp−c\\| | \\|raw−c\\| | static share | disp static px | jitter px "
        "| zero-motion max | still change model / average / mc |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in rows.items():
        lines.append(
            f"| {name} | {100 * m['rejected']:.1f} % | {m['comp_c']:.2f} | {m['raw_c']:.2f} "
            f"| {100 * m['static_share']:.0f} % | {m['disp_static']:.2f} | {m['jitter_static']:.2f} "
            f"| {m['zero_motion_max']:.3f} | {m['still_change_model']:.3f} / {m['still_change_average']:.3f} / "
            f"{m['still_change_mc']:.3f} |"
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
