"""Issue 15: why aligned (motion-compensated) chroma averaging does not beat the plain average with the demo
model, and what each smoother does on chroma that is mostly right. One command:

```sh
python scripts/flow_diagnostics.py --data ../shared/data
```

Same clips, model and sizes as ``scripts/temporal_report.py`` (256 px wide, 41 frames, ``demo``,
render_factor 10). Everything here is measured at render size (160×160), where the smoothers work: the
model's render is captured inside ``colorize()``, the truth is the colour original resized there (bicubic,
4:4:4), chroma in 8-bit limited-range code values (×224). "Moving" pixels: the model-input grey (the
original's luma at render size) changes by more than 12 codes from the previous frame, widened by 2 px.
The alignment is DIS optical flow (``scripts/flow_trial.py``'s, ``--preset``) from frame ``n`` to each
neighbour ``m = n ± 1, ±2``, frames ``2 .. T−3``.

Part 1, *the model's chroma along the motion* (one row per clip, means over moving pixels):

* ``truth |T_m−T_n|`` / ``|wT_m−T_n|``: how far the true chroma of the neighbour is from the frame's, unmoved
  and warped along the flow (what smearing costs, and how well the flow aligns);
* ``model |C_m−C_n|`` / ``|wC_m−C_n|``: the same for the model's chroma;
* ``corr unmoved`` / ``corr warped``: correlation of the model's error ``C_n − T_n`` with the neighbour's
  error at the same place, unmoved (``C_m − T_n``) and warped (``wC_m − T_n``);
* ``err n`` / ``err ½(n+unmoved)`` / ``err ½(n+warped)``: mean absolute error of the frame, and of its mean
  with one unmoved or warped neighbour: what a 2-frame average can gain.

A second table, on the same moving pixels: ``|C|`` / ``|T|`` the mean chroma magnitude (distance from
neutral, codes) of the model and the truth; ``err C`` the model's error over all frames; ``err 0.9·C`` the model's error with its chroma scaled by 0.9
towards neutral (no smoothing at all); ``flicker model / frozen``: the flicker of the model's own
frame-to-frame chroma change, ``mean |ΔC − ΔT|``, against that of an output that does not change at all
there (``mean |ΔT|``); ``corr(ΔC, ΔT)`` the correlation of the two changes.

Part 2, *the three smoothers on other chroma inputs* (radius 2, each through the filter's own code:
``scene_smoothing.smooth`` for ``average`` and ``mc``, ``flow_trial.flow_variant`` for ``flow``), scored at
render size against the truth (``err moving`` / ``flicker`` as in the report, on the render grid; a third
table splits the ``model`` rows' flicker into moving and other pixels):

* ``model``: the demo model's render (the report's input, here scored at render size);
* ``keys/10``: ``colorize()``'s output with the true frames 0, 10, 20, … as keyframes (vivid, mostly right),
  resized to render size;
* ``truth + flicker``: SYNTHETIC. The true chroma plus, per frame and plane, an independent smooth random
  field (white noise blurred by a Gaussian of σ 6 px, scaled to a standard deviation of ``--noise`` codes) —
  chroma that is right except for frame-to-frame flicker, which isolates the stabiliser from the model's own
  errors.

Part 3, *smoothing with keyframes*: how far ``colorize(keyframes=keys/10, temporal_radius=2)`` is from
``colorize(keyframes=keys/10)`` in ``average`` and ``mc`` mode (output chroma, 8-bit codes, mean and max over
all frames). The filter now smooths the blended chroma (keyframes' own frames excluded), so this is the
smoothing's own effect; until that change (commit d890bb1 and before) it smoothed the model's render *before*
the blend and this part measured how little that reached the output.

Prints five markdown tables; logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

import numpy as np
import vapoursynth as vs
from flow_trial import PRESETS, flow_variant, flow_weights, to8
from temporal_report import add_clip_arguments, arrays, grey, load

from vs_colorize import colorize
from vs_colorize.backends import ORT
from vs_colorize.filters import scene_smoothing

log = logging.getLogger("flow_diagnostics")
core = vs.core
SCALE = 224.0  # float chroma → 8-bit limited-range code values
RADIUS = 2
NEUTRAL = 0.0  # float chroma is centred on 0


def chroma_of(clip: vs.VideoNode) -> np.ndarray:
    """T×2×H×W chroma codes of a YUV444PS clip."""
    return (
        np.stack([np.stack([np.asarray(f[1]), np.asarray(f[2])]) for f in clip.frames()]).astype(np.float64)
        * SCALE
    )


def from_arrays(g: vs.VideoNode, chroma: np.ndarray) -> vs.VideoNode:
    """An RGBS render whose BT.709 chroma is ``chroma`` (codes) and luma ``g``: what the smoothers take."""
    base = core.std.ShufflePlanes([g, core.std.BlankClip(g, format=vs.YUV444PS)], [0, 1, 2], vs.YUV)

    def put(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p in (1, 2):
            np.copyto(np.asarray(out[p]), (chroma[n, p - 1] / SCALE).astype(np.float32))
        return out

    yuv = core.std.ModifyFrame(base, base, put)
    return core.resize.Point(yuv, format=vs.RGBS, matrix_in=vs.MATRIX_BT709)


def smoothers(preset: int) -> dict[str, Callable[[vs.VideoNode, vs.VideoNode], vs.VideoNode]]:
    flow = flow_variant(preset, 1.0, 8.0)

    def run_flow(render: vs.VideoNode, g: vs.VideoNode) -> vs.VideoNode:
        marked = scene_smoothing.mark_scene_changes(render, g, threshold=0.1)
        return flow(render, g, marked, RADIUS)

    return {
        "none": lambda render, g: render,
        "average": lambda render, g: scene_smoothing.smooth(render, g, radius=RADIUS, threshold=0.1),
        "mc": lambda render, g: scene_smoothing.smooth(render, g, radius=RADIUS, threshold=0.1, mode="mc"),
        "flow": run_flow,
    }


def moving(gy: np.ndarray) -> np.ndarray:
    change = np.zeros(gy.shape, dtype=bool)
    change[1:] = np.abs(np.diff(gy, axis=0)) > 12
    out = change.copy()
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            out |= np.roll(np.roll(change, dy, axis=1), dx, axis=2)
    return out


def warp(a: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    """2×H×W planes sampled at (mx, my), bilinear, border replicated."""
    import cv2

    return np.stack(
        [
            cv2.remap(p.astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            for p in a
        ]
    ).astype(np.float64)


def along_motion(
    g8: np.ndarray, c: np.ndarray, t: np.ndarray, mov: np.ndarray, preset: int
) -> dict[str, float]:

    acc: dict[str, list[np.ndarray]] = {k: [] for k in ("tu", "tw", "cu", "cw", "en", "eu", "ew")}
    for n in range(RADIUS, len(c) - RADIUS):
        sel = mov[n]
        if not sel.any():
            continue
        for d in (-2, -1, 1, 2):
            m = n + d
            mx, my, _ = flow_weights(g8[n], g8[m], preset, 1.0, 8.0)

            wc, wt = warp(c[m], mx, my), warp(t[m], mx, my)
            for k, v in (
                ("tu", t[m] - t[n]), ("tw", wt - t[n]), ("cu", c[m] - c[n]), ("cw", wc - c[n]),
                ("en", c[n] - t[n]), ("eu", c[m] - t[n]), ("ew", wc - t[n]),
            ):  # fmt: skip
                acc[k].append(v[:, sel].ravel())
    a = {k: np.concatenate(v) for k, v in acc.items()}
    sel = np.repeat(mov[1:, None], 2, axis=1)
    dc, dt = np.diff(c, axis=0)[sel], np.diff(t, axis=0)[sel]
    cm, tm = c[np.repeat(mov[:, None], 2, axis=1)], t[np.repeat(mov[:, None], 2, axis=1)]
    return {
        "truth_unmoved": float(np.abs(a["tu"]).mean()),
        "truth_warped": float(np.abs(a["tw"]).mean()),
        "model_unmoved": float(np.abs(a["cu"]).mean()),
        "model_warped": float(np.abs(a["cw"]).mean()),
        "corr_unmoved": float(np.corrcoef(a["en"], a["eu"])[0, 1]),
        "corr_warped": float(np.corrcoef(a["en"], a["ew"])[0, 1]),
        "err_n": float(np.abs(a["en"]).mean()),
        "err_pair_unmoved": float(np.abs(0.5 * (a["en"] + a["eu"])).mean()),
        "err_pair_warped": float(np.abs(0.5 * (a["en"] + a["ew"])).mean()),
        "err_all": float(np.abs(cm - tm).mean()),
        "err_desat": float(np.abs(0.9 * (cm - NEUTRAL) + NEUTRAL - tm).mean()),
        "chroma_model": float(np.abs(cm - NEUTRAL).mean()),
        "chroma_truth": float(np.abs(tm - NEUTRAL).mean()),
        "flicker_model": float(np.abs(dc - dt).mean()),
        "flicker_frozen": float(np.abs(dt).mean()),
        "corr_change": float(np.corrcoef(dc, dt)[0, 1]),
    }


def scores(c: np.ndarray, t: np.ndarray, mov: np.ndarray) -> tuple[float, float, float, float]:
    """(err moving, flicker, flicker on moving pixels, flicker on the others)."""
    sel = np.repeat(mov[:, None], 2, axis=1)
    err_moving = float(np.abs(c - t)[sel].mean())
    flick = np.abs(np.diff(c, axis=0) - np.diff(t, axis=0))
    return err_moving, float(flick.mean()), float(flick[sel[1:]].mean()), float(flick[~sel[1:]].mean())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_clip_arguments(p, radius=False)
    p.add_argument("--preset", choices=list(PRESETS), default="medium")
    p.add_argument("--noise", type=float, default=3.0, help="synthetic flicker, codes (standard deviation)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    logging.getLogger("vs_colorize").setLevel(logging.WARNING)
    import cv2

    core.num_threads = 2
    preset = PRESETS[args.preset]
    backend = ORT(num_streams=1, intra_op_threads=1)
    rng = np.random.default_rng(args.seed)
    part1: dict[str, dict[str, float]] = {}
    part2: dict[tuple[str, str], dict[str, tuple[float, float, float, float]]] = {}
    part3: dict[tuple[str, str], tuple[float, float]] = {}
    captured: dict[str, vs.VideoNode] = {}
    for name in args.clips:
        truth = load(args.data, name, args.width, args.frames)
        src = grey(truth)
        real = scene_smoothing.smooth

        def spy(render: vs.VideoNode, g: vs.VideoNode, **kw: object) -> vs.VideoNode:
            captured["render"], captured["grey"] = render, g
            return render

        scene_smoothing.smooth = spy  # type: ignore[assignment]
        try:
            colorize(src, "demo", args.render_factor, backend)
        finally:
            scene_smoothing.smooth = real
        render, g = captured["render"], captured["grey"]
        w, h = render.width, render.height
        g8 = np.stack([to8(f[0]) for f in g.frames()])
        mov = moving(g8.astype(np.float64))
        t = chroma_of(core.resize.Bicubic(truth, w, h, format=vs.YUV444PS, range_in=0, range=1))
        c = chroma_of(core.resize.Point(render, format=vs.YUV444PS, matrix=vs.MATRIX_BT709))
        part1[name] = along_motion(g8, c, t, mov, preset)
        log.info("%s: %s", name, {k: round(v, 3) for k, v in part1[name].items()})
        rgb = core.resize.Bicubic(truth, format=vs.RGB48, matrix_in=1)
        keys = {n: rgb[n] for n in range(0, truth.num_frames, 10)}
        keyed = colorize(src, "demo", args.render_factor, backend, keyframes=keys)
        k = chroma_of(core.resize.Bicubic(keyed, w, h, format=vs.YUV444PS, range_in=0, range=1))
        plain_c = arrays(keyed)[1]
        for mode in ("average", "mc"):
            smoothed = colorize(
                src,
                "demo",
                args.render_factor,
                backend,
                keyframes=keys,
                temporal_radius=RADIUS,
                temporal_mode=mode,
            )
            diff = np.abs(arrays(smoothed)[1] - plain_c)
            part3[(name, mode)] = (float(diff.mean()), float(diff.max()))
        noise = rng.standard_normal(t.shape)
        for i in np.ndindex(t.shape[:2]):
            noise[i] = cv2.GaussianBlur(noise[i], (0, 0), 6.0)
        noise *= args.noise / noise.std(axis=(2, 3), keepdims=True)
        inputs = {"model": c, "keys/10": k, "truth + flicker (synthetic)": t + noise}
        for label, arr in inputs.items():
            render_in = from_arrays(g, arr)
            for sname, fn in smoothers(preset).items():
                out = chroma_of(
                    core.resize.Point(fn(render_in, g), format=vs.YUV444PS, matrix=vs.MATRIX_BT709)
                )
                part2.setdefault((label, sname), {})[name] = scores(out, t, mov)
                log.info(
                    "%s %s %s: %.3f / %.3f / %.3f / %.3f", name, label, sname, *part2[(label, sname)][name]
                )
    cols = [
        "truth_unmoved", "truth_warped", "model_unmoved", "model_warped",
        "corr_unmoved", "corr_warped", "err_n", "err_pair_unmoved", "err_pair_warped",
    ]  # fmt: skip
    lines = [
        "| clip | truth \\|T_m−T_n\\| | \\|wT_m−T_n\\| | model \\|C_m−C_n\\| | \\|wC_m−C_n\\| | corr unmoved "
        "| corr warped | err n | err ½(n+unmoved) | err ½(n+warped) |",
        "|---|" + "---|" * len(cols),
    ]
    for name, m in part1.items():
        lines.append(f"| {name} | " + " | ".join(f"{m[k]:.3f}" for k in cols) + " |")
    lines += [
        "",
        "| input | smoother | " + " | ".join(args.clips) + " |",
        "|---|---|" + "---|" * len(args.clips),
    ]
    for (label, sname), row in part2.items():
        lines.append(
            f"| {label} | {sname} | "
            + " | ".join(f"{row[c][0]:.3f} / {row[c][1]:.3f}" for c in args.clips)
            + " |"
        )
    lines += [
        "",
        "| smoother (model input) | " + " | ".join(f"{c}: flicker moving / still" for c in args.clips) + " |",
        "|---|" + "---|" * len(args.clips),
    ]
    for sname in smoothers(preset):
        row = part2[("model", sname)]
        lines.append(
            f"| {sname} | " + " | ".join(f"{row[c][2]:.3f} / {row[c][3]:.3f}" for c in args.clips) + " |"
        )
    lines += [
        "",
        "| clip | keys/10 + average 2 vs keys/10: mean / max | keys/10 + mc 2 vs keys/10: mean / max |",
    ]
    lines.append("|---|---|---|")
    for name in args.clips:
        pa, pm = part3[(name, "average")], part3[(name, "mc")]
        lines.append(f"| {name} | {pa[0]:.4f} / {pa[1]:.0f} | {pm[0]:.4f} / {pm[1]:.0f} |")
    lines += [
        "",
        "| clip | \\|C\\| / \\|T\\| moving | err C | err 0.9·C | flicker model / frozen (moving) | corr(ΔC, ΔT) |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in part1.items():
        lines.append(
            f"| {name} | {m['chroma_model']:.2f} / {m['chroma_truth']:.2f} | {m['err_all']:.3f} | {m['err_desat']:.3f} "
            f"| {m['flicker_model']:.3f} / {m['flicker_frozen']:.3f} | {m['corr_change']:.2f} |"
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
