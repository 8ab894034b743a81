"""Peak memory of ``vs-colorize superres`` on long TIFF stacks: flat in the number of frames (docs/superres.md).

    python scripts/sr_memory.py WORKDIR [--frames 100 1000] [--side 512] [--model M.onnx]

Writes a uint16 ``FRAMES×SIDE×SIDE`` stack per count (streamed, smooth blobs), runs the real CLI under
``/usr/bin/time -v`` and prints the peak resident set size and wall time per count as a Markdown table. Without
``--model`` a tiny 4× model (nearest-neighbour upscaling of frame t, built with onnx.helper) is used, so the
numbers measure the reader, VapourSynth's cache and the writer rather than a network's arena. Each output is
deleted after its run (a 1,000-frame 512² stack at 4× is 8.4 GB).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import tifffile
from onnx import TensorProto, helper, numpy_helper

from vs_colorize.core.contract import ModelInfo


def tiny_model(path: Path, scale: int = 4) -> Path:
    info = ModelInfo(
        kind="superres", arch="nearest", dynamic_range=(4, 4096), multiple=1, in_channels=3, out_channels=1,
        scale=scale, window=3,
    )  # fmt: skip
    inits = [
        numpy_helper.from_array(np.array([1], np.int64), "start"),
        numpy_helper.from_array(np.array([2], np.int64), "end"),
        numpy_helper.from_array(np.array([1], np.int64), "axes"),
        numpy_helper.from_array(np.array([1, 1, scale, scale], np.float32), "scales"),
    ]
    nodes = [
        helper.make_node("Slice", ["input", "start", "end", "axes"], ["c"]),
        helper.make_node("Resize", ["c", "", "scales"], ["output"], mode="nearest"),
    ]
    graph = helper.make_graph(
        nodes,
        "nearest",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1, "OH", "OW"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    helper.set_model_props(model, info.to_props())
    onnx.save(model, path)
    return path


def write_stack(path: Path, frames: int, side: int) -> None:
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side

    def pages() -> Iterator[np.ndarray]:
        for t in range(frames):
            blob = np.exp(-((yy - 0.5 - 0.2 * np.sin(t / 20)) ** 2 + (xx - 0.5) ** 2) / 0.02)
            yield (blob * 60000).astype(np.uint16)

    with tifffile.TiffWriter(path) as tw:
        tw.write(pages(), shape=(frames, side, side), dtype=np.uint16, photometric="minisblack")


def measure(src: Path, out: Path, model: Path, extra: list[str]) -> tuple[float, float]:
    cmd = ["/usr/bin/time", "-v", "vs-colorize", "superres", str(src), str(out), "--model", str(model), "-y"]
    done = subprocess.run([*cmd, *extra], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"sr_memory: {' '.join(cmd)} failed:\n{done.stderr}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))  # type: ignore[union-attr]
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", done.stderr).group(1)  # type: ignore[union-attr]
    seconds = sum(float(p) * 60**i for i, p in enumerate(reversed(wall.split(":"))))
    return rss / 1024, seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workdir", type=Path)
    p.add_argument("--frames", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--side", type=int, default=512)
    p.add_argument("--model", type=Path, help="superres .onnx (default: a tiny 4x nearest-neighbour model)")
    p.add_argument("--tile", type=int, help="passed to the CLI")
    args = p.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    model = args.model or tiny_model(args.workdir / "nearest4x.onnx")
    extra = ["--tile", str(args.tile)] if args.tile else []
    rows = ["| frames | input | output | peak RSS (MiB) | wall (s) |", "|---|---|---|---|---|"]
    for n in args.frames:
        src, out = args.workdir / f"in{n}.tif", args.workdir / f"out{n}.tif"
        write_stack(src, n, args.side)
        rss, wall = measure(src, out, model, extra)
        with tifffile.TiffFile(out) as tif:
            shape, big = tif.series[0].shape, tif.is_bigtiff
        rows.append(
            f"| {n} | {src.stat().st_size / 1e6:.0f} MB | {'x'.join(map(str, shape))}"
            f"{' BigTIFF' if big else ''}, {out.stat().st_size / 1e9:.2f} GB | {rss:.0f} | {wall:.0f} |"
        )
        src.unlink()
        out.unlink()
        sys.stderr.write(rows[-1] + "\n")
    sys.stdout.write("\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
