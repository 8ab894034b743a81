"""Reproduce the SR experiment of docs/superres.md: train a 3-frame and a single-frame model, evaluate both
against bicubic on a held-out sequence, and export the 3-frame model to ONNX.

    python scripts/sr_experiment.py OUT_DIR [--data SEQ ...] [--heldout SEQ] [--steps 300] [--width 16]

Defaults: train on the shared confocal Sequence2 and the ISBI-2012 EM stack, evaluate on confocal Sequence1.
CPU only, one thread (a few minutes per model on a shared 2-core machine).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vs_colorize.export.sr import export_checkpoint  # noqa: E402
from vs_colorize.training.archs.sr import SRConfig  # noqa: E402
from vs_colorize.training.sr.evaluate import evaluate, markdown_table  # noqa: E402
from vs_colorize.training.sr.train import SRTrainConfig, train  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "microscopy"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--data",
        nargs="+",
        default=[
            str(DATA / "drosophila_gfp_histone_timelapse_seq2"),
            str(DATA / "isbi2012_em_sstem_train30"),
        ],
    )
    parser.add_argument("--heldout", default=str(DATA / "drosophila_gfp_histone_timelapse_seq1"))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--width", type=int, default=16)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    ckpt = {}
    for window in (3, 1):
        cfg = SRTrainConfig(
            data=tuple(args.data),
            out=str(args.out / f"window{window}"),
            model=SRConfig(window=window, width=args.width),
            steps=args.steps,
        )
        ckpt[window] = train(cfg)["checkpoint"]
    results = evaluate([args.heldout], multi=ckpt[3], single=ckpt[1], out=args.out / "eval")
    sys.stderr.write(markdown_table(results))
    export_checkpoint(ckpt[3], args.out / "pssr3.onnx", overwrite=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
