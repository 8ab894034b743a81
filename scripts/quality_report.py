"""Quality report of the bundled demo colorizer (docs/quality.md), one command:

```sh
python scripts/quality_report.py --data ../shared/data --out out/quality
```

What it measures, always through the ONNX artifacts with ONNX Runtime on the CPU (what users run):

* **Photos** (``bsds500_test_sample50``, ``imagenet_sample30``; neither is in ``train256``): every image at its
  own size goes through DeOldify's photo path: Pillow ``convert('L')`` luma, resized (bilinear) to the square
  render size ``16·render_factor``, replicated to grey RGB, the network, its RGB resized back (bilinear) and given
  the original luma (``vs_colorize.training.metrics.swap_luma``). Scored with
  ``vs_colorize.training.metrics.colour_metrics`` against the colour original, per image, then averaged. Three
  colorizers (and any given with ``--compare NAME=ONNX``, e.g. an earlier version of the model): the **demo**
  model, a **grey** baseline (the luma alone: no colour at all) and the **untrained** network (the same ``tiny`` architecture with our initialisation,
  seed 0, BatchNorm running statistics calibrated on 64 ``train256`` images so that eval mode sees sensible
  statistics), exported to ONNX the same way as the demo.
* **Flicker** on ``bw_film_clips/a-bomb_blast_effects_part.mp4`` through the real VapourSynth filter
  (``vs_colorize.colorize``, ORT backend): mean absolute frame-to-frame change of the output's U and V planes
  (8-bit code values), divided by the mean absolute frame-to-frame change of the source luma (so a model whose
  colours move exactly as much as the picture scores about the same on any clip). Lower is steadier; the grey
  film scores 0.

Writes ``OUT/quality.json`` (every number, per set and colorizer), ``OUT/quality.md`` (the tables) and
``OUT/samples_<set>.png`` (grey, demo, untrained, truth for the first images). Logs go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vs_colorize.training.metrics import colour_metrics, swap_luma

log = logging.getLogger("quality_report")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "vs_colorize" / "assets" / "demo-fp32.onnx"
SETS = ("bsds500_test_sample50", "imagenet_sample30")
CLIP = Path("bw_film_clips") / "a-bomb_blast_effects_part.mp4"
KEYS = (
    "chroma_error",
    "colourfulness",
    "colourfulness_target",
    "saturation",
    "neutral_cast",
    "skin_sat_drift",
)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"}
Colorizer = Callable[[np.ndarray], np.ndarray]


def ort_colorizer(path: Path, threads: int) -> Colorizer:
    """Grey RGB ``[3,S,S]`` float32 in [0,1] → RGB ``[3,S,S]`` through ONNX Runtime running ``path``."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def run(grey: np.ndarray) -> np.ndarray:
        y: np.ndarray = session.run(["output"], {"input": grey[None].astype(np.float32)})[0][0]
        return y

    return run


def untrained_onnx(calib_dir: Path, out: Path, *, seed: int = 0, n_calib: int = 64) -> Path:
    """Export the untrained ``tiny`` generator (seed ``seed``, BatchNorm calibrated on ``n_calib`` images)."""
    from vs_colorize.export import to_onnx
    from vs_colorize.training.archs import build_generator
    from vs_colorize.training.metrics import generator_colorizer, load_holdout

    torch.manual_seed(seed)
    gen = build_generator("tiny")
    _, grey = load_holdout(calib_dir, size=128, max_images=n_calib)
    for m in gen.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    gen.train()  # forward passes in train mode update the BatchNorm running statistics
    generator_colorizer(gen, batch_size=16)(grey)
    gen.eval()
    to_onnx(gen, out, render_size=336, dynamic=(64, 1024), overwrite=True)
    return out


def render(colorize: Colorizer, rgb: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """DeOldify's photo path on an ``H×W×3`` uint8 image: returns (prediction, target), ``[3,H,W]`` in [0,1]."""
    im = Image.fromarray(rgb)
    grey_full = im.convert("L")
    small = np.asarray(grey_full.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
    out = colorize(np.repeat(small[None], 3, axis=0))
    up = torch.nn.functional.interpolate(
        torch.from_numpy(np.ascontiguousarray(out))[None],
        size=rgb.shape[:2],
        mode="bilinear",
        align_corners=False,
    )
    luma = torch.from_numpy(np.asarray(grey_full, dtype=np.float32) / 255.0)[None, None]
    pred = swap_luma(up.clamp(0, 1), luma)[0].numpy()
    return pred, rgb.transpose(2, 0, 1).astype(np.float32) / 255.0


def grey_colorizer(grey: np.ndarray) -> np.ndarray:
    """The grey baseline: the input itself (no colour)."""
    return grey


def score_set(
    folder: Path, colorizers: dict[str, Colorizer], size: int, samples: Path, max_images: int = 0
) -> dict[str, dict[str, Any]]:
    """Mean ``colour_metrics`` per colorizer over the images of ``folder`` (the first ``max_images`` by name,
    0 = all); writes a sample grid."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[: max_images or None]
    if not files:
        raise ValueError(f"score_set: folder {folder} holds no images")
    per: dict[str, list[dict[str, float]]] = {name: [] for name in colorizers}
    tiles: list[list[np.ndarray]] = []
    for i, path in enumerate(files):
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
        row = []
        for name, fn in colorizers.items():
            pred, target = render(fn, rgb, size)
            per[name].append(colour_metrics(pred, target))
            row.append(pred)
        if i < 6:
            tiles.append([*row, target])
    write_grid(tiles, samples)
    out: dict[str, dict[str, Any]] = {}
    for name, rows in per.items():
        out[name] = {"images": len(rows)}
        for key in rows[0]:
            vals = [r[key] for r in rows if not math.isnan(r[key])]
            out[name][key] = float(np.mean(vals)) if vals else math.nan
    return out


def write_grid(rows: list[list[np.ndarray]], path: Path, height: int = 160) -> None:
    """Rows of ``[3,H,W]`` images, each scaled to ``height`` pixels high, saved as one PNG."""
    lines = []
    for row in rows:
        ims = []
        for img in row:
            pil = Image.fromarray((img.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8))
            ims.append(np.asarray(pil.resize((round(pil.width * height / pil.height), height))))
        lines.append(
            np.concatenate([np.pad(a, ((2, 2), (2, 2), (0, 0)), constant_values=255) for a in ims], 1)
        )
    width = max(line.shape[1] for line in lines)
    lines = [
        np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0)), constant_values=255) for line in lines
    ]
    Image.fromarray(np.concatenate(lines, 0)).save(path)


def flicker(
    clip_path: Path, model: Path, render_factor: int, temporal_radius: int = 0, max_frames: int = 0
) -> dict[str, float]:
    """Frame-to-frame chroma change of the filter's output relative to the source's luma change, over the
    first ``max_frames`` frames (0 = all)."""
    import vapoursynth as vs

    from vs_colorize import colorize
    from vs_colorize.backends import ORT
    from vs_colorize.io.source import open_source

    src = open_source(clip_path)
    if max_frames:
        src = src[:max_frames]
    out = colorize(src, str(model), render_factor, ORT(provider="cpu"), temporal_radius=temporal_radius)
    if out.format.bits_per_sample != 8 or out.format.color_family != vs.YUV:
        raise ValueError(f"flicker: expected an 8-bit YUV film, got {out.format.name}")
    d_y, d_uv = [], []
    prev = None
    t0 = time.perf_counter()
    for f_src, f_out in zip(src.frames(), out.frames(), strict=True):
        cur = tuple(np.asarray(p, dtype=np.int16) for p in (f_src[0], f_out[1], f_out[2]))
        if prev is not None:
            d_y.append(np.abs(cur[0] - prev[0]).mean())
            d_uv.append((np.abs(cur[1] - prev[1]).mean() + np.abs(cur[2] - prev[2]).mean()) / 2)
        prev = cur
    y, uv = float(np.mean(d_y)), float(np.mean(d_uv))
    return {
        "frames": src.num_frames,
        "luma_change": y,
        "chroma_change": uv,
        "flicker_ratio": uv / y,
        "seconds": time.perf_counter() - t0,
    }


def tables(report: dict[str, Any]) -> str:
    lines = []
    for name in SETS:
        res = report["photos"][name]
        lines += [
            f"### {name} ({res['demo']['images']} images, render factor {report['render_factor']})",
            "",
            "| colorizer | chroma error ↓ | colourfulness (target) | saturation | neutral cast ↓ | skin ΔC* |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for who in res:
            r = res[who]
            lines.append(
                f"| {who} | {r['chroma_error']:.2f} | {r['colourfulness']:.1f} ({r['colourfulness_target']:.1f}) | "
                f"{r['saturation']:.3f} | {r['neutral_cast']:.2f} | {r['skin_sat_drift']:+.2f} |"
            )
        lines.append("")
    lines += [
        f"### Flicker, {CLIP.name} ({report['flicker']['demo']['frames']} frames)",
        "",
        "| model | temporal radius | chroma change (UV code values/frame) | source luma change | ratio ↓ |",
        "|---|---:|---:|---:|---:|",
    ]
    for who, r in report["flicker"].items():
        lines.append(
            f"| {who.split('@')[0]} | {r['temporal_radius']} | {r['chroma_change']:.3f} | {r['luma_change']:.3f} | "
            f"{r['flicker_ratio']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Quality report of the demo colorizer (see the module docstring)."
    )
    p.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder"
    )
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="the demo ONNX artifact (fp32)")
    p.add_argument("--out", type=Path, default=ROOT / "out" / "quality", help="output folder")
    p.add_argument(
        "--compare",
        nargs="*",
        default=[],
        metavar="NAME=ONNX",
        help="more ONNX colorizers to score beside the demo (e.g. an earlier version), photos and flicker at radius 0",
    )
    p.add_argument("--render-factor", type=int, default=21, help="render size 16·N (default 21 = 336 px)")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads (default 1)")
    p.add_argument(
        "--max-images", type=int, default=0, help="first N images per set, for quick checks (0 = all)"
    )
    p.add_argument(
        "--max-frames", type=int, default=0, help="first N film frames, for quick checks (0 = all)"
    )
    args = p.parse_args(argv)
    compare: dict[str, Path] = {}
    for item in args.compare:
        name, sep, path = item.partition("=")
        if not sep or not name or not Path(path).is_file() or name in ("grey", "untrained", "demo"):
            p.error(f"--compare: expected NAME=ONNX with a new name and an existing file, got {item!r}")
        compare[name] = Path(path)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    size = 16 * args.render_factor
    report: dict[str, Any] = {
        "model": str(args.model),
        "render_factor": args.render_factor,
        "max_images": args.max_images,
        "max_frames": args.max_frames,
        "photos": {},
        "flicker": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        untrained = untrained_onnx(args.data / "train256", Path(tmp) / "untrained.onnx")
        colorizers = {
            "grey": grey_colorizer,
            "untrained": ort_colorizer(untrained, args.threads),
            **{name: ort_colorizer(path, args.threads) for name, path in compare.items()},
            "demo": ort_colorizer(args.model, args.threads),
        }
        for name in SETS:
            t0 = time.perf_counter()
            report["photos"][name] = score_set(
                args.data / name, colorizers, size, args.out / f"samples_{name}.png", args.max_images
            )
            log.info("%s scored in %.0f s", name, time.perf_counter() - t0)
        for who, model, radius in (
            ("demo", args.model, 0),
            ("demo@r2", args.model, 2),
            ("untrained", untrained, 0),
            *((name, path, 0) for name, path in compare.items()),
        ):
            res = flicker(args.data / CLIP, model, args.render_factor, radius, args.max_frames)
            report["flicker"][who] = {**res, "temporal_radius": radius}
            log.info("flicker %s: %s", who, res)
    (args.out / "quality.json").write_text(json.dumps(report, indent=1, allow_nan=True))
    (args.out / "quality.md").write_text(tables(report))
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
