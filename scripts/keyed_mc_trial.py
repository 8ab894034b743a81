"""Where the keyframes + ``mc`` smoothing should run (issue 15; docs/temporal.md), one command:

```sh
python scripts/keyed_mc_trial.py --data ../shared/data --radii 1 2 3 --cost-frames 6
```

Each clip of ``temporal_report`` (same loading, keyframes every 10 frames, the bundled ``demo`` model) is
colorized once with keyframes and no smoothing (``keys/10``); that output is then smoothed by
``scene_smoothing.smooth_chroma``'s two modes and by these stand-ins for its ``mc`` mode, with the same
cut marks, and the keyframes' own frames put back as ``colorize`` does:

* ``output size``: the path before the chroma grid (``_aligned_mean`` on the 16-bit output, 4:2:0 here, its
  vectors searched on the source luma at output size with ``Search.for_size``);
* ``output size pel 4`` / ``output size thsad 1200``: the same with quarter-pixel search / with the block
  rejection threshold of the keyframes' propagation (``motion.THSAD_KEYFRAMES``) in place of 400;
* ``chroma grid``: ``smooth_chroma(mode="mc")`` as it is (the chroma planes on their own grid, the luma
  scaled to their size as the guide, ``Search.for_chroma_grid`` blocks); ``chroma grid 8x8 blocks`` the same
  with 8×8 blocks on the grid (4×4 at the report's 256-pixel width);
* ``render size + delta``: ``_aligned_mean`` on a 4:4:4 copy at the model's render size (the output chroma
  scaled there, the model-input grey as guide); the smoothed minus the unsmoothed small chroma is scaled back
  (bilinear) and added to the output chroma, the cheaper way to smooth a large output.

Numbers as ``temporal_report``'s (``err moving``, ``flicker``, 8-bit chroma codes against the original,
frames that are not keyframes for the error). ``--cost-frames N`` also times each smoothing alone (CPU time of
the process per frame, best of three taken in turns, the keyed frames already rendered and held in
memory) on the first N frames of Big Buck Bunny scaled to 1920×1080, render_factor 21, radius 2.

Also prints the largest change of an 8-bit value through the ``mc`` path's 16-bit round trip. Prints Markdown
tables; logs go to stderr.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import time
from collections.abc import Callable

import numpy as np
import vapoursynth as vs
from temporal_report import CLIPS, add_clip_arguments, arrays, grey, load, moving_mask

from vs_colorize import colorize
from vs_colorize.backends import ORT
from vs_colorize.filters import motion, scene_smoothing

log = logging.getLogger("keyed_mc_trial")
core = vs.core
Smoother = Callable[[vs.VideoNode, vs.VideoNode, vs.VideoNode, vs.VideoNode, int], vs.VideoNode]


def held(template: vs.VideoNode, planes: list[list[np.ndarray]]) -> vs.VideoNode:
    """``template``'s frames (format, props) with the given planes: a rendered clip held in memory."""

    def put(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p, plane in enumerate(planes[n]):
            np.copyto(np.asarray(out[p]), plane)
        return out

    return core.std.ModifyFrame(template, template, put)


def render(clip: vs.VideoNode) -> list[list[np.ndarray]]:
    return [[np.array(f[p]) for p in range(f.format.num_planes)] for f in clip.frames()]


def average(
    yuv: vs.VideoNode, luma: vs.VideoNode, small: vs.VideoNode, cuts: vs.VideoNode, r: int
) -> vs.VideoNode:
    return scene_smoothing.smooth_chroma(yuv, luma, cuts, radius=r, mode="average")


def chroma_grid(
    yuv: vs.VideoNode, luma: vs.VideoNode, small: vs.VideoNode, cuts: vs.VideoNode, r: int
) -> vs.VideoNode:
    return scene_smoothing.smooth_chroma(yuv, luma, cuts, radius=r, mode="mc")


def output_size(
    yuv: vs.VideoNode,
    luma: vs.VideoNode,
    small: vs.VideoNode,
    cuts: vs.VideoNode,
    r: int,
    *,
    pel: int = 2,
    thsad: int = motion.THSAD,
) -> vs.VideoNode:
    """The mc smoothing as it was before the chroma grid (commit c259f8f), optionally with another ``pel``
    or rejection threshold."""
    blk = motion.Search.for_size(yuv.width, yuv.height)
    guide = core.std.ShufflePlanes([luma, core.std.BlankClip(yuv, keep=True)], [0, 1, 2], vs.YUV)
    real = motion.compensate
    motion.compensate = functools.partial(real, thsad=thsad)  # what _aligned_mean calls
    try:
        mean = scene_smoothing._aligned_mean(
            motion.to16(yuv), guide, cuts, r, motion.Search(blk.blksize, blk.overlap, pel)
        )
    finally:
        motion.compensate = real
    return core.std.ShufflePlanes([yuv, motion.convert(mean, yuv.format)], [0, 1, 2], vs.YUV)


def chroma_grid_blocks(
    yuv: vs.VideoNode, luma: vs.VideoNode, small: vs.VideoNode, cuts: vs.VideoNode, r: int, *, blk: int
) -> vs.VideoNode:
    """``smooth_chroma``'s mc on the chroma grid with ``blk``×``blk`` blocks (not ``Search.for_chroma_grid``)."""
    yuv16 = motion.to16(yuv)
    guide = motion.chroma_guide(luma, yuv16)
    grid = motion.chroma_grid(yuv16, guide)
    mean = scene_smoothing._aligned_mean(grid, guide, cuts, r, motion.Search(blk, blk // 2))
    smoothed = motion.convert(motion.from_chroma_grid(yuv16, mean), yuv.format)
    return core.std.ShufflePlanes([yuv, smoothed], [0, 1, 2], vs.YUV)


def render_delta(
    yuv: vs.VideoNode, luma: vs.VideoNode, small: vs.VideoNode, cuts: vs.VideoNode, r: int
) -> vs.VideoNode:
    """Smoothed at ``small``'s size (the model-input grey), the chroma change scaled back and added."""
    chroma_small = core.resize.Bilinear(yuv, small.width, small.height, format=vs.YUV444PS)
    work = motion.to16(core.std.ShufflePlanes([small, chroma_small, chroma_small], [0, 1, 2], vs.YUV))
    mean = scene_smoothing._aligned_mean(work, motion.to16(small), cuts, r)
    as_float = functools.partial(core.resize.Point, format=vs.YUV444PS, range_in=1, range=1)
    delta = core.std.Expr([as_float(mean), as_float(work)], ["0", "x y -"])
    fmt = yuv.format
    flt = core.query_video_format(vs.YUV, vs.FLOAT, 32, fmt.subsampling_w, fmt.subsampling_h)
    big = core.resize.Bilinear(delta, yuv.width, yuv.height, format=flt.id)
    out = core.std.Expr([core.resize.Point(yuv, format=flt.id), big], ["", "x y +"])
    return core.std.ShufflePlanes([yuv, core.resize.Point(out, format=fmt.id)], [0, 1, 2], vs.YUV)


VARIANTS: dict[str, Smoother] = {
    "average": average,
    "output size": output_size,
    "output size pel 4": functools.partial(output_size, pel=4),
    "output size thsad 1200": functools.partial(output_size, thsad=1200),
    "chroma grid": chroma_grid,
    "chroma grid 8x8 blocks": functools.partial(chroma_grid_blocks, blk=8),
    "render size + delta": render_delta,
}


class Keyed:
    """One clip colorized with keyframes every 10 frames and no smoothing, held in memory."""

    def __init__(self, src: vs.VideoNode, truth: vs.VideoNode, render_factor: int, backend: ORT) -> None:
        self.keys = list(range(0, src.num_frames, 10))
        rgb = core.resize.Bicubic(truth, format=vs.RGB48, matrix_in=1)
        out = colorize(src, "demo", render_factor, backend, keyframes={k: rgb[k] for k in self.keys})
        self.yuv = held(out, render(out))
        self.luma = self.yuv.std.ShufflePlanes(0, vs.GRAY)
        size = 16 * render_factor  # fit="stretch": the model-input grey, where colorize marks the cuts
        self.small = core.std.Limiter(core.resize.Bilinear(self.luma, size, size, format=vs.GRAYS), 0.0, 1.0)
        self.cuts = scene_smoothing.mark_scene_changes(self.small, self.small, threshold=0.1)

    def smoothed(self, variant: Smoother, radius: int) -> vs.VideoNode:
        out = variant(self.yuv, self.luma, self.small, self.cuts, radius)
        keys = frozenset(self.keys)
        return core.std.FrameEval(out, lambda n: self.yuv if n in keys else out)


def quality(args: argparse.Namespace, backend: ORT) -> dict[str, dict[tuple[str, int], tuple[float, float]]]:
    results: dict[str, dict[tuple[str, int], tuple[float, float]]] = {}
    for name in args.clips:
        truth = load(args.data, name, args.width, args.frames)
        truth_y, truth_c = arrays(truth)
        moving = np.repeat(moving_mask(truth_y)[:, None], 2, axis=1)
        keyed = Keyed(grey(truth), truth, args.render_factor, backend)
        between = [n for n in range(truth.num_frames) if n not in keyed.keys]
        rows: dict[tuple[str, int], tuple[float, float]] = {}
        candidates = [("none", 0, None)] + [(v, r, f) for r in args.radii for v, f in VARIANTS.items()]
        for variant, r, smoother in candidates:
            _, c = arrays(keyed.yuv if smoother is None else keyed.smoothed(smoother, r))
            diff = np.abs(c - truth_c)[between]
            flicker = float(np.abs(np.diff(c, axis=0) - np.diff(truth_c, axis=0)).mean())
            rows[(variant, r)] = (float(diff[moving[between]].mean()), flicker)
            log.info("%s %s %d: %.3f / %.3f", name, variant, r, *rows[(variant, r)])
        results[name] = rows
    return results


def cost(args: argparse.Namespace, backend: ORT) -> dict[str, float]:
    """ms per frame of each smoothing alone at 1920×1080 (radius 2), keyed frames held in memory."""
    clip = core.bs.VideoSource(str(args.data / "color_video_clips" / CLIPS["bunny"]), cachemode=0)
    clip = core.std.SetFrameProps(clip[: args.cost_frames], _Matrix=1)
    truth = core.resize.Bicubic(clip, 1920, 1080, format=vs.YUV420P8)
    truth = core.std.SetFrameProps(truth, _Matrix=1, _Range=0, _ChromaLocation=0)
    keyed = Keyed(grey(truth), truth, 21, backend)
    runs: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for _ in range(3):  # round robin, best of three: the machine is shared and its load drifts
        for variant, smoother in VARIANTS.items():
            start = time.process_time()
            for _ in keyed.smoothed(smoother, 2).frames():
                pass
            runs[variant].append(1000 * (time.process_time() - start) / truth.num_frames)
    out = {variant: min(times) for variant, times in runs.items()}
    log.info("cost runs: %s", {v: [round(t) for t in times] for v, times in runs.items()})
    start = time.process_time()
    for _ in keyed.yuv.frames():
        pass
    out["none (reading the held frames)"] = 1000 * (time.process_time() - start) / truth.num_frames
    return out


def round_trip() -> int:
    """Largest change of any 8-bit value (all 256 in each plane) through the mc path's 16-bit round trip."""
    clip = core.std.BlankClip(format=vs.YUV420P8, width=64, height=64, length=1)
    values = [
        (np.arange(w * h).reshape(h, w) % 256).astype(np.uint8) for w, h in ((64, 64), (32, 32), (32, 32))
    ]
    clip = core.std.SetFrameProps(held(clip, [values]), _Range=0, _Matrix=1)
    back = motion.convert(motion.to16(clip), clip.format).get_frame(0)
    return max(int(np.abs(np.asarray(back[p]).astype(int) - values[p]).max()) for p in range(3))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_clip_arguments(p, radius=False)
    p.add_argument("--radii", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cost-frames", type=int, default=0, help="frames of the 1080p cost run (0: skip)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    logging.getLogger("vs_colorize").setLevel(logging.WARNING)
    core.num_threads = args.threads
    backend = ORT(num_streams=1, intra_op_threads=1)
    results = quality(args, backend)
    names = list(results)
    lines = ["| variant | radius | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for variant, r in results[names[0]]:
        cells = [f"{results[n][(variant, r)][0]:.3f} / {results[n][(variant, r)][1]:.3f}" for n in names]
        lines.append(f"| {variant} | {r or '–'} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    print(f"\n16-bit round trip of YUV420P8 (limited range), largest change of a value: {round_trip()}")
    if args.cost_frames:
        print("\n| smoothing at 1920x1080, radius 2 | ms/frame |\n|---|---|")
        for variant, ms in cost(args, backend).items():
            print(f"| {variant} | {ms:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
