"""Score the SR model that ``vs-colorize superres`` runs (the shipped one unless ``--model``) through the runtime path.

    python scripts/sr_runtime_check.py OUT_DIR [--heldout SEQ] [--model M.onnx] [--frames N]

The held-out sequence (default: the shared confocal Sequence1) is cropped as ``vs-colorize-train sr evaluate``
crops it (sides a multiple of 16) and, as it does, loses frames that repeat the one before bit for bit (unless
``--keep-duplicates``), and two LR movies are made the way the evaluation makes them: the crappifier
(``SRCrappifyConfig`` defaults, spread off, seed 1234) and plain 4x area downsampling. Each is written as a uint16
TIFF stack, run through the real CLI (``vs-colorize superres LR.tif HR.tif``: VapourSynth, ONNX Runtime, the
model's percentile normalisation) and scored against the HR frames next to bicubic on the same uint16 LR.
Prints a Markdown table (PSNR, SSIM, flicker, error flicker) and writes it to ``OUT_DIR/runtime.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import tifffile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vs_colorize.training.sr.crappify import SRCrappifyConfig, crappify_stack, without_noise  # noqa: E402
from vs_colorize.training.sr.data import load_sequence  # noqa: E402
from vs_colorize.training.sr.evaluate import bicubic, distinct_frames, score  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "microscopy"
SCALE, UNIT = 4, 16  # the shipped model: 4x, sides a multiple of 4 at LR (16 at HR)


def run_cli(lr: np.ndarray, work: Path, name: str, model: Path | None) -> np.ndarray:
    """``lr`` (T, h, w) in [0, 1] → uint16 TIFF → ``vs-colorize superres`` → (T, 4h, 4w) in [0, 1]."""
    src, dst = work / f"{name}-lr.tif", work / f"{name}-sr.tif"
    tifffile.imwrite(src, np.round(lr * 65535).astype(np.uint16), photometric="minisblack")
    cmd = ["vs-colorize", "superres", str(src), str(dst), "-y"]
    if model is not None:
        cmd += ["--model", str(model)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"sr_runtime_check: {' '.join(cmd)} failed:\n{done.stderr}")
    return tifffile.imread(dst).astype(np.float32) / 65535


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("--heldout", type=Path, default=DATA / "drosophila_gfp_histone_timelapse_seq1")
    p.add_argument("--model", type=Path, help="superres .onnx (default: none, the shipped model)")
    p.add_argument("--frames", type=int, help="only the first N frames")
    p.add_argument("--seed", type=int, default=1234, help="crappifier seed (default 1234, as evaluate)")
    p.add_argument(
        "--keep-duplicates", action="store_true", help="keep bit-identical repeats (as evaluate's flag)"
    )
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    hr = load_sequence(args.heldout, 1)[: args.frames]
    hr = hr[:, : hr.shape[1] // UNIT * UNIT, : hr.shape[2] // UNIT * UNIT]
    if not args.keep_duplicates:
        hr = hr[distinct_frames(hr)]
    noisy = dataclasses.replace(SRCrappifyConfig(scale=SCALE), spread=0.0)
    rows = [
        "| LR made by | method | PSNR (dB) | SSIM | flicker | target flicker | error flicker |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, cfg in (("crappifier", noisy), ("area", without_noise(noisy))):
        lr = crappify_stack(hr, cfg, np.random.default_rng(args.seed))
        lr16 = np.round(lr * 65535) / 65535  # what the TIFF holds, for bicubic too
        for method, pred in (("bicubic", bicubic(lr16.astype(np.float32), SCALE)), ("model", None)):
            if pred is None:
                pred = run_cli(lr, args.out, name, args.model)
            m = score(pred, hr)
            rows.append(
                f"| {name} | {method} | {m['psnr']:.2f} | {m['ssim']:.4f} | {m['flicker']:.4f} | "
                f"{m['flicker_target']:.4f} | {m['error_flicker']:.5f} |"
            )
            sys.stderr.write(rows[-1] + "\n")
    table = "\n".join(rows) + "\n"
    (args.out / "runtime.md").write_text(table)
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
