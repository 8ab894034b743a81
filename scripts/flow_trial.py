"""Issue 15 trial: chroma smoothing along OpenCV's DIS optical flow instead of MVTools' vectors.

```sh
python scripts/flow_trial.py --data ../shared/data
```

Same clips, sizes, model and numbers as ``scripts/temporal_report.py`` (256 px wide, 41 frames, ``demo``,
render_factor 10; ``err moving`` and ``flicker`` in 8-bit chroma codes). The ``flow`` variant replaces
``scene_smoothing._smooth_mc`` for one render (``temporal_report.score_mc_variant``); the rest of
``colorize()`` is unchanged. Per output frame ``n``, at render size, for each neighbour ``m = n ± 1..r``
that no cut separates from ``n`` (the same marks and test as ``mc``):

1. the forward flow ``F`` (``n`` → ``m``) and the backward flow ``B`` (``m`` → ``n``) are computed by
   ``cv2.DISOpticalFlow`` (``--preset``) on the model-input grey as 8-bit;
2. ``m``'s chroma (BT.709) and grey are sampled at ``x + F(x)`` (``cv2.remap``, bilinear, border replicated);
3. the neighbour's weight per pixel is ``exp(−½(fb/σ_fb)²) · exp(−½(e/σ_e)²)``: ``fb = |F(x) + B(x + F(x))|``
   (forward–backward inconsistency, px: occlusions and failed matches) and ``e`` the warped grey's absolute
   difference from ``n``'s (8-bit codes);
4. the output chroma is the weighted mean of ``n``'s own (weight 1) and the warped neighbours'.

``--sigmas`` lists ``σ_fb:σ_e`` pairs to try. The plain average and the current ``mc`` are measured in the
same run. Prints a markdown table (each cell ``err moving / flicker``, 3 decimals); logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import vapoursynth as vs
from temporal_report import add_clip_arguments, clip_inputs, score_mc_variant

from vs_colorize.backends import ORT
from vs_colorize.filters.scene_smoothing import cut_between, shift

log = logging.getLogger("flow_trial")
core = vs.core
PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}


def flow_weights(
    cur: np.ndarray, nb: np.ndarray, preset: int, sigma_fb: float, sigma_e: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(map_x, map_y, weight) that take neighbour grey ``nb`` onto ``cur`` (both uint8 H×W)."""
    import cv2

    dis = cv2.DISOpticalFlow.create(preset)
    h, w = cur.shape
    # the flow arguments are outputs only (no initial flow is used)
    fwd = np.asarray(dis.calc(cur, nb, np.zeros((h, w, 2), np.float32)))
    bwd = np.asarray(dis.calc(nb, cur, np.zeros((h, w, 2), np.float32)))
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + fwd[..., 0], gy + fwd[..., 1]
    back = cv2.remap(bwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    fb = np.hypot(fwd[..., 0] + back[..., 0], fwd[..., 1] + back[..., 1])
    warped = cv2.remap(nb.astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    e = np.abs(warped - cur.astype(np.float32))
    weight = np.exp(-0.5 * (fb / sigma_fb) ** 2) * np.exp(-0.5 * (e / sigma_e) ** 2)
    return mx, my, weight.astype(np.float32)


def smooth_window(
    greys: list[np.ndarray],
    chromas: list[np.ndarray],
    usable: list[bool],
    *,
    preset: int,
    sigma_fb: float,
    sigma_e: float,
) -> np.ndarray:
    """Flow-weighted mean of the centre chroma (2×H×W float32) and its usable neighbours'."""
    import cv2

    r = len(greys) // 2
    cur = greys[r]
    acc = chromas[r].astype(np.float32).copy()
    total = np.ones(cur.shape, np.float32)
    for i in range(len(greys)):
        if i == r or not usable[i]:
            continue
        mx, my, wt = flow_weights(cur, greys[i], preset, sigma_fb, sigma_e)
        for p in range(2):
            acc[p] += wt * cv2.remap(
                chromas[i][p].astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
        total += wt
    return acc / total


def to8(plane: Any) -> np.ndarray:
    return np.clip(np.asarray(plane, dtype=np.float32) * 255 + 0.5, 0, 255).astype(np.uint8)


def flow_variant(
    preset: int, sigma_fb: float, sigma_e: float
) -> Callable[[vs.VideoNode, vs.VideoNode, vs.VideoNode, int], vs.VideoNode]:
    """A stand-in for ``scene_smoothing._smooth_mc`` that aligns along DIS flow (module docstring)."""

    def smooth_flow(
        render: vs.VideoNode, grey: vs.VideoNode, marked: vs.VideoNode, radius: int
    ) -> vs.VideoNode:
        yuv = core.resize.Point(render, format=vs.YUV444PS, matrix=vs.MATRIX_BT709)
        span = range(-radius, radius + 1)
        clips = (
            [shift(yuv, d) for d in span] + [shift(grey, d) for d in span] + [shift(marked, d) for d in span]
        )
        k = 2 * radius + 1

        def per_frame(n: int, f: list[vs.VideoFrame]) -> vs.VideoFrame:
            greys = [to8(fr[0]) for fr in f[k : 2 * k]]
            chromas = [np.stack([np.asarray(fr[1]), np.asarray(fr[2])]) for fr in f[:k]]
            usable = [d == 0 or not cut_between(f[2 * k :], d) for d in span]
            out = smooth_window(greys, chromas, usable, preset=preset, sigma_fb=sigma_fb, sigma_e=sigma_e)
            frame = f[radius].copy()
            np.copyto(np.asarray(frame[1]), out[0])
            np.copyto(np.asarray(frame[2]), out[1])
            return frame

        smoothed = core.std.ModifyFrame(yuv, clips, per_frame)
        return core.resize.Point(smoothed, format=vs.RGBS, matrix_in=vs.MATRIX_BT709)

    return smooth_flow


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_clip_arguments(p, radius=False)
    p.add_argument("--radii", type=int, nargs="+", default=[2])
    p.add_argument("--preset", choices=list(PRESETS), default="medium")
    p.add_argument("--sigmas", nargs="+", default=["0.5:4", "1:8", "2:16"], help="σ_fb:σ_e pairs")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    logging.getLogger("vs_colorize").setLevel(logging.WARNING)
    core.num_threads = 2
    backend = ORT(num_streams=1, intra_op_threads=1)
    sigmas = [tuple(float(v) for v in s.split(":")) for s in args.sigmas]
    variants: dict[str, tuple[str, Callable[..., vs.VideoNode] | None]] = {
        "average": ("average", None),
        "current `mc`": ("mc", None),
    }
    for sfb, se in sigmas:
        variants[f"flow {args.preset} σ {sfb:g} px / {se:g} codes"] = (
            "mc",
            flow_variant(PRESETS[args.preset], sfb, se),
        )
    cells: dict[tuple[str, int], dict[str, str]] = {}
    for name in args.clips:
        _, src, truth_c, moving = clip_inputs(args, name)
        for r in args.radii:
            for label, (mode, variant) in variants.items():
                m = score_mc_variant(
                    src, truth_c, moving, backend,
                    render_factor=args.render_factor, radius=r, mode=mode, variant=variant,
                )  # fmt: skip
                cells.setdefault((label, r), {})[name] = f"{m['err_moving']:.3f} / {m['flicker']:.3f}"
                log.info("%s r%d %s: %s", name, r, label, cells[(label, r)][name])
    lines = ["| variant | radius | " + " | ".join(args.clips) + " |", "|---|---|" + "---|" * len(args.clips)]
    for (label, r), row in cells.items():
        lines.append(f"| {label} | {r} | " + " | ".join(row[c] for c in args.clips) + " |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
