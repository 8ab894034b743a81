"""``farm chunk``: render one chunk of a plan into ``PLAN_DIR/chunks/`` atomically, with its record.

A chunk is ``chunk_NNNNN.mkv`` (the plan's codec; every chunk starts with a keyframe and has closed GOPs)
and ``chunk_NNNNN.json``, its record: the frames it holds, a sha256 per decoded frame, the file's size and
sha256, the settings and model identity it was rendered with, the host and timings. The record is written
last, so a chunk counts as done only when both are complete; a chunk whose record matches the plan is
skipped, which makes reruns and scheduler retries idempotent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import vapoursynth as vs

from .._version import __version__
from ..backends import Backend, get_backend
from ..core import fileio
from ..filters.colorize import colorize
from ..io.encode import EncodeSettings, encode_pyav
from ..io.render import plan_output, prepare_clip
from ..io.source import open_source
from ..models import model_format, resolve_model
from .plan import Chunk, Plan, PlanError

log = logging.getLogger("vs_colorize")

#: Scheduler variables holding an array task's index, and the index their first task gets by default.
ARRAY_VARIABLES: tuple[tuple[str, int], ...] = (
    ("SLURM_ARRAY_TASK_ID", 0),
    ("AWS_BATCH_JOB_ARRAY_INDEX", 0),
    ("PBS_ARRAY_INDEX", 0),
    ("SGE_TASK_ID", 1),
)


@dataclass(frozen=True, kw_only=True)
class ChunkEncodeSettings(EncodeSettings):
    """The plan's encoder with closed GOPs forced where the encoder's default is open (x265)."""

    def codec_options(self) -> dict[str, str]:
        opts = super().codec_options()
        if self.encoder == "libx265":
            opts["x265-params"] += ":open-gop=0"
        return opts


def encode_settings(settings: dict[str, Any]) -> ChunkEncodeSettings:
    return ChunkEncodeSettings(
        codec=settings["codec"],
        crf=settings["crf"],
        preset=settings["preset"],
        pix_fmt=settings["pix_fmt"],
        audio=False,
    )


def array_index(env: dict[str, str] | os._Environ[str], base: int | None = None) -> int:
    """The chunk index an array job's task stands for: its scheduler variable minus the first index
    (``base``; default 0, SGE 1). Raise PlanError when no variable is set."""
    for name, default in ARRAY_VARIABLES:
        value = env.get(name, "")
        if value.strip().lstrip("-").isdigit():  # SGE says "undefined" outside array jobs
            first = default if base is None else base
            log.debug("farm chunk: %s=%s, first index %d", name, value, first)
            return int(value) - first
    names = ", ".join(n for n, _ in ARRAY_VARIABLES)
    raise PlanError(f"farm chunk: no chunk index given and none of {names} is set")


def resolve_identity(settings: dict[str, Any]) -> tuple[Path, str]:
    """The model artifact the settings pick on this machine, and its sha256."""
    be = get_backend(settings["backend"], func="farm", model_format=model_format(settings["model"]))
    resolved = resolve_model(
        settings["model"], kind="colorize", func="farm", precision=be.precision, formats=be.formats
    )
    return resolved.path, fileio.sha256_file(resolved.path)


def plan_backend(settings: dict[str, Any], model_path: Path) -> Backend:
    """The backend the plan's settings ask for (with ``--streams`` and ``--batch`` applied)."""
    asked = {"num_streams": settings["streams"], "batch_size": settings.get("batch")}
    return get_backend(
        settings["backend"],
        func="farm",
        model_format=model_format(os.fspath(model_path)),
        **{k: v for k, v in asked.items() if v is not None},
    )


def frame_hashes(path: Path) -> tuple[list[str], bool, int]:
    """sha256 of every decoded frame's pixels (planes without padding), whether the first frame is a
    keyframe, and the stream's reorder delay in frames (how far decode order runs ahead of display)."""
    hashes: list[str] = []
    first_key = False
    with av.open(os.fspath(path)) as c:
        stream = c.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or 1
        packets = [p for p in c.demux(stream) if p.size and p.pts is not None and p.time_base is not None]
    shown = [round((p.pts or 0) * p.time_base * rate) for p in packets]
    # The encoder's declared delay shows in the dts it wrote (x264's b-pyramid: 2 frames, even where a
    # short chunk reorders by 1); without dts, the reordering seen in the pts.
    decoded = [i - round(p.dts * p.time_base * rate) for i, p in enumerate(packets) if p.dts is not None]
    delay = max([0, *decoded, *(n - k for n, k in zip(sorted(shown), shown, strict=True))])
    with av.open(os.fspath(path)) as c:
        for n, frame in enumerate(c.decode(c.streams.video[0])):
            if n == 0:
                first_key = bool(frame.key_frame)
            wide = 2 if frame.format.name.endswith(("le", "be")) else 1
            h = hashlib.sha256()
            for plane in frame.planes:
                rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
                h.update(np.ascontiguousarray(rows[:, : plane.width * wide]).tobytes())
            hashes.append(h.hexdigest())
    return hashes, first_key, delay


def check_chunk(plan_dir: Path, plan: Plan, chunk: Chunk, *, verify_file: bool = True) -> str | None:
    """Why chunk ``chunk`` is not a finished part of ``plan`` (None when it is)."""
    record_path, path = plan.record_path(plan_dir, chunk), plan.chunk_path(plan_dir, chunk)
    try:
        record = json.loads(record_path.read_text())
    except FileNotFoundError:
        return "missing (no record)"
    except (OSError, ValueError) as exc:
        return f"unreadable record: {exc}"
    if record.get("source_sha256") != plan.source["sha256"]:
        return "rendered from another source"
    if record.get("model_sha256") != plan.model["sha256"]:
        return f"rendered with another model (sha256 {str(record.get('model_sha256'))[:12]}…)"
    if record.get("settings") != plan.settings:
        changed = sorted(k for k in plan.settings if record.get("settings", {}).get(k) != plan.settings[k])
        return f"rendered with other settings ({', '.join(changed) or 'keys differ'})"
    if (record.get("start"), record.get("stop")) != (chunk.start, chunk.stop):
        return f"covers frames {record.get('start')}..{record.get('stop')}, not {chunk.start}..{chunk.stop}"
    hashes = record.get("frame_hashes", [])
    if not isinstance(record.get("reorder_delay"), int):
        return "record has no reorder_delay (written by another version)"
    if record.get("frames") != chunk.frames or len(hashes) != chunk.frames:
        return f"holds {record.get('frames')} frames ({len(hashes)} hashes), the plan says {chunk.frames}"
    if not path.is_file():
        return "missing (no chunk file)"
    size = path.stat().st_size
    if size != record.get("size"):
        return f"file is {size} bytes, its record says {record.get('size')} (truncated or replaced)"
    if verify_file and fileio.sha256_file(path) != record.get("sha256"):
        return "file content does not match its record's sha256"
    return None


ProgressFn = Callable[[int], None]


def render_chunk(
    plan_dir: Path,
    plan: Plan,
    chunk: Chunk,
    *,
    progress: ProgressFn | None = None,
    backend: Backend | None = None,
) -> dict[str, Any] | None:
    """Render ``chunk`` of ``plan`` unless its record already matches; return the new record (None: skipped).

    ``backend``: a configured backend to use instead of the plan's (a Ray actor passes one that keeps
    its sessions loaded across chunks).

    Raises PlanError when this machine's source file or model differs from the plan's, ``vs.Error`` /
    EncodeError / OSError when the render fails (nothing is left under the final names then).
    """
    if check_chunk(plan_dir, plan, chunk) is None:
        log.info("farm chunk %d: already done, skipping", chunk.index)
        return None
    t0 = time.monotonic()
    settings = plan.settings
    src = Path(plan.source["path"])
    if not src.is_file() or src.stat().st_size != plan.source["size"]:
        raise PlanError(f"farm chunk: source {os.fspath(src)!r} is missing or not the planned file (size)")
    model_path, model_sha = resolve_identity(settings)
    if model_sha != plan.model["sha256"]:
        raise PlanError(
            f"farm chunk: the model here ({os.fspath(model_path)}, sha256 {model_sha[:12]}…) is not the "
            f"planned one (sha256 {plan.model['sha256'][:12]}…)"
        )
    # The plan refused a damaged source. Its check reads every packet of the film (0.4 ms a packet measured on
    # 2 cores: over a minute for a two-hour film) and would be repeated by each of hundreds of chunks.
    clip = open_source(src, source=settings["source"], check_damage=False)
    if clip.num_frames != plan.source["frames"]:
        raise PlanError(
            f"farm chunk: the source has {clip.num_frames} frames, the plan {plan.source['frames']}"
        )
    if settings["threads"]:
        vs.core.num_threads = settings["threads"]
    if backend is None:
        backend = plan_backend(settings, model_path)
    colored = colorize(
        clip[chunk.lo : chunk.hi],
        os.fspath(model_path),
        settings["render_factor"],
        backend,
        fit=settings["fit"],
        temporal_radius=settings["temporal_radius"],
        temporal_mode=settings.get("temporal_mode", "average"),
        scene_threshold=settings["scene_threshold"],
    )
    trimmed = colored[chunk.start - chunk.lo : chunk.stop - chunk.lo]  # drop the overlap
    final = plan.chunk_path(plan_dir, chunk)
    enc = encode_settings(settings)
    out = plan_output(final, frames=chunk.frames, encoder="pyav")
    prepared = prepare_clip(trimmed, out, enc)
    runtime = prepared.get_frame(0).props.get("VSColorizeBackend", "")
    runtime = runtime.decode() if isinstance(runtime, bytes) else str(runtime)
    t1 = time.monotonic()
    with fileio.atomic_output(final, overwrite=True) as tmp:
        written = encode_pyav(prepared, tmp, enc, progress=progress)
        t2 = time.monotonic()
        hashes, keyframe, delay = frame_hashes(tmp)
        if written != chunk.frames or len(hashes) != chunk.frames:
            raise PlanError(
                f"farm chunk {chunk.index}: wrote {written}, decoded {len(hashes)} of {chunk.frames}"
            )
        if not keyframe:
            raise PlanError(
                f"farm chunk {chunk.index}: the {enc.encoder} chunk does not start with a keyframe"
            )
        size, sha = tmp.stat().st_size, fileio.sha256_file(tmp)
    t3 = time.monotonic()
    record = {
        "index": chunk.index,
        "start": chunk.start,
        "stop": chunk.stop,
        "frames": chunk.frames,
        "rendered_window": [chunk.lo, chunk.hi],
        "frame_hashes": hashes,
        "reorder_delay": delay,
        "file": final.name,
        "size": size,
        "sha256": sha,
        "settings": settings,
        "source_sha256": plan.source["sha256"],
        "model_sha256": model_sha,
        "backend": runtime,
        "host": socket.gethostname(),
        "version": __version__,
        "timings": {"setup_s": t1 - t0, "render_s": t2 - t1, "verify_s": t3 - t2, "total_s": t3 - t0},
    }
    fileio.write_text_atomic(plan.record_path(plan_dir, chunk), json.dumps(record, indent=1) + "\n")
    log.info("farm chunk %d: %d frames in %.1f s", chunk.index, chunk.frames, t3 - t0)
    return record
