"""``farm``: one film rendered by one process vs ``farm run`` with 1 and N local Ray workers, and concat speed.

The film is generated (flat scenes with a cut every 40 frames), the model is the shipped demo generator at a
render size where inference dominates, chunks are lossless ffv1. Besides wall times the section records the
constants of the scaling model in docs/farm.md: Ray start-up plus worker (model) load, the per-chunk overhead
(open + graph set-up, then decode-back and hashing), the per-frame render time, and concat's real-time multiple.
"""

from __future__ import annotations

import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from .common import Record, Settings

log = logging.getLogger("bench")


def write_film(path: Path, frames: int, size: tuple[int, int], fps: int = 24, scene: int = 40) -> Path:
    """An x264 film of ``frames`` frames, a hard cut every ``scene`` frames."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "12"})
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            s = i // scene
            y = (40 + 37 * s) % 180 + 20 + (xx * (s % 3) + yy) * 60 // (w + h) + (i % scene)
            planes = np.concatenate([y.astype(np.uint8), np.full((h // 2, w), 128, np.uint8)])
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


def _cli(*args: object) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vs_colorize", *map(str, args), "-q"], check=True)
    return time.perf_counter() - start


def run(settings: Settings, peaks: dict[str, float]) -> list[Record]:
    from vs_colorize.farm import ray_run
    from vs_colorize.farm.concat import concat
    from vs_colorize.farm.plan import load_plan

    frames, size, rf = (96, (64, 48), 8) if settings.quick else (240, (320, 240), 12)
    workers = settings.threads
    settings.work.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="farm-", dir=settings.work))
    film = write_film(root / "film.mp4", frames, size)
    render = ["--model", "demo", "--render-factor", rf, "--codec", "ffv1"]
    base: Record = {"section": "farm", "frames": frames, "side": 16 * rf, "size": f"{size[0]}x{size[1]}"}
    records: list[Record] = []

    wall = _cli("colorize", film, root / "one.mkv", *render)
    one = base | {"variant": "one process", "workers": 1, "wall_s": wall, "fps": frames / wall}
    records.append(one)
    log.info("farm: one process %.1f s", wall)

    per_worker = {}
    for n in dict.fromkeys((1, workers)):
        plan_dir = root / f"plan-{n}"
        _cli("farm", "plan", film, plan_dir, *render, "--chunks", 4 * n)
        plan = load_plan(plan_dir)
        stats = ray_run.run(plan_dir, plan, local_workers=n, quiet=True)
        chunks = [json.loads(plan.record_path(plan_dir, c).read_text())["timings"] for c in plan.chunks]
        overhead = statistics.mean(t["setup_s"] + t["verify_s"] for t in chunks)
        per_frame = sum(t["render_s"] for t in chunks) / frames
        per_worker[n] = stats.render_s
        records.append(
            base
            | {
                "variant": "farm run",
                "workers": n,
                "chunks": len(plan.chunks),
                "wall_s": stats.startup_s + stats.render_s,
                "startup_s": stats.startup_s,
                "render_s": stats.render_s,
                "fps": frames / stats.render_s,
                "speedup": per_worker[1] / stats.render_s,
                "chunk_overhead_s": overhead,
                "frame_s": per_frame,
            }
        )
        log.info("farm: %d workers: start-up %.1f s, render %.1f s", n, stats.startup_s, stats.render_s)
        if n == workers:
            out = root / "joined.mkv"
            start = time.perf_counter()
            concat(plan_dir, plan, out)
            seconds = time.perf_counter() - start
            real = frames * plan.fps[1] / plan.fps[0]
            records.append(base | {"variant": "concat", "seconds": seconds, "x_realtime": real / seconds})
    return records
