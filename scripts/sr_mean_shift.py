"""How far the SR model's output mean drifts from the input's on structureless input (the shipped model unless
``--model``): dim uint16 pixel noise (uniform 0..8191, i.i.d.), raw and after a 3x3 box blur, run through
``vs_colorize.superres``; prints the relative shift of the mean of the middle frame for a few seeds.

    python scripts/sr_mean_shift.py [--model M.onnx] [--seeds 0 1 2 3 4]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import vapoursynth as vs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vs_colorize.filters.superres import superres  # noqa: E402

core = vs.core


def noise_clip(seed: int, width: int = 32, height: int = 24, length: int = 3) -> vs.VideoNode:
    """GRAY16 frames of i.i.d. uniform values in 0..8191."""
    blank = core.std.BlankClip(format=vs.GRAY16, width=width, height=height, length=length, keep=True)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        a = np.asarray(out[0])
        a[...] = np.random.default_rng((seed, n)).integers(0, 8192, a.shape)
        return out

    return blank.std.ModifyFrame(blank, fill)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, help="superres .onnx (default: the shipped model)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = p.parse_args(argv)
    rows = ["| input | mean shift of the output (per seed) |", "|---|---|"]
    for name, blur in (("i.i.d. noise", False), ("3x3 box-blurred noise", True)):
        shifts = []
        for seed in args.seeds:
            clip = noise_clip(seed)
            if blur:
                clip = clip.std.BoxBlur(hradius=1, vradius=1)
            out = superres(clip, None if args.model is None else str(args.model))
            a = np.asarray(out.get_frame(1)[0]).astype(np.float64).mean()
            b = np.asarray(clip.get_frame(1)[0]).astype(np.float64).mean()
            shifts.append(f"{100 * (a - b) / b:+.1f} %")
        rows.append(f"| {name} | {', '.join(shifts)} |")
    sys.stdout.write("\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
