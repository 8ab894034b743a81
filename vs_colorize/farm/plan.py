"""``farm plan``: split a film into chunks whose boundaries fall on scene cuts, and write ``plan.json``.

The plan records everything a worker needs and everything ``concat`` checks against: the source (path,
size, sha256), its frame count and rate, the resolved render settings, the model's sha256, and the
chunks. A chunk is ``[start, stop)`` in source frame numbers plus the window ``[lo, hi)`` it renders:
with ``temporal_radius = r > 0`` every inner boundary gets ``r`` overlap frames on each side, which the
chunk renders (so the smoothing sees the same neighbours as in one process) and trims before encoding.
Cuts are found as the filter's temporal smoothing finds them (:func:`vs_colorize.scene_smoothing.mark_scene_changes`
on the luma at render size), so a boundary on a cut also starts a new scene in the smoothing.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import vapoursynth as vs

from .. import color_props
from .._version import __version__
from ..core import fileio
from ..filters import scene_smoothing
from ..filters.colorize import geometry

log = logging.getLogger("vs_colorize")

PLAN_NAME = "plan.json"
CHUNK_DIR = "chunks"
#: The filter's default cut threshold (``colorize(scene_threshold=…)``), used by plans and renders alike.
SCENE_THRESHOLD = 0.1


class PlanError(ValueError):
    """A plan that cannot be made or read; the message names the problem."""


@dataclass(frozen=True)
class Chunk:
    """Frames ``start..stop-1`` of the source, rendered from the window ``lo..hi-1`` (overlap trimmed)."""

    index: int
    start: int
    stop: int
    lo: int
    hi: int

    @property
    def frames(self) -> int:
        return self.stop - self.start

    @property
    def name(self) -> str:
        return f"chunk_{self.index:05d}"


@dataclass(frozen=True)
class Plan:
    """The contents of ``plan.json`` (see the module docstring)."""

    source: dict[str, Any]
    fps: tuple[int, int]
    frames: tuple[int, int]  # the selection [start, stop) of the source
    settings: dict[str, Any]
    model: dict[str, Any]
    chunks: tuple[Chunk, ...]
    version: str = __version__
    cuts: tuple[int, ...] = field(default=())

    @property
    def identity(self) -> str:
        """sha256 of what decides the pixels and the chunking (not the version or the cut list)."""
        blob = {
            "source": self.source["sha256"],
            "fps": self.fps,
            "frames": self.frames,
            "settings": self.settings,
            "model": self.model["sha256"],
            "chunks": [asdict(c) for c in self.chunks],
        }
        return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()

    def chunk_path(self, plan_dir: Path, chunk: Chunk) -> Path:
        return plan_dir / CHUNK_DIR / f"{chunk.name}.mkv"

    def record_path(self, plan_dir: Path, chunk: Chunk) -> Path:
        return plan_dir / CHUNK_DIR / f"{chunk.name}.json"

    def to_json(self) -> str:
        data = asdict(self)
        data["identity"] = self.identity
        return json.dumps(data, indent=1) + "\n"

    def write(self, plan_dir: Path, *, overwrite: bool = False) -> Path:
        path = plan_dir / PLAN_NAME
        with fileio.atomic_output(path, overwrite=overwrite) as tmp:
            tmp.write_text(self.to_json())
        (plan_dir / CHUNK_DIR).mkdir(exist_ok=True)
        return path


def load_plan(plan_dir: str | os.PathLike[str]) -> Plan:
    """Read ``PLAN_DIR/plan.json``; raise PlanError when it is missing or malformed."""
    path = Path(plan_dir) / PLAN_NAME
    try:
        data = json.loads(path.read_text())
        plan = Plan(
            source=data["source"],
            fps=tuple(data["fps"]),
            frames=tuple(data["frames"]),
            settings=data["settings"],
            model=data["model"],
            chunks=tuple(Chunk(**c) for c in data["chunks"]),
            version=data.get("version", ""),
            cuts=tuple(data.get("cuts", ())),
        )
    except FileNotFoundError:
        raise PlanError(f"farm: no plan at {os.fspath(path)!r} (run `vs-colorize farm plan` first)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PlanError(f"farm: {os.fspath(path)!r} is not a readable plan: {exc}") from None
    if data.get("identity") != plan.identity:
        raise PlanError(f"farm: {os.fspath(path)!r} was edited after planning (its identity does not match)")
    return plan


def cut_luma(clip: vs.VideoNode, render_factor: int, fit: str) -> vs.VideoNode:
    """The grey the colorize filter measures cuts on: luma at render size, GRAYS in [0, 1]."""
    family = clip.format.color_family
    if family == vs.RGB:
        src = color_props.normalize_props(clip, matrix=int(vs.MATRIX_BT709), range_in=None)
        luma = vs.core.resize.Point(src, format=vs.YUV444PS, matrix=int(vs.MATRIX_BT709))
    else:
        matrix = color_props.default_matrix(clip.width, clip.height)
        luma = color_props.normalize_props(clip, matrix=matrix, range_in=None)
    if family != vs.GRAY:
        luma = luma.std.ShufflePlanes(0, vs.GRAY)
    geo = geometry(clip.width, clip.height, 16 * render_factor, fit, 16)
    grey = vs.core.resize.Bilinear(luma, geo.content_w, geo.content_h, format=vs.GRAYS)
    return vs.core.std.Limiter(grey, 0.0, 1.0)


def detect_cuts(grey: vs.VideoNode, threshold: float = SCENE_THRESHOLD) -> list[int]:
    """Frames (> 0) that start a new scene in ``grey``, by the filter's own measure."""
    marked = scene_smoothing.mark_scene_changes(grey, grey, threshold=threshold)
    return [n for n, f in enumerate(marked.frames(close=True)) if n and f.props["_SceneChangePrev"]]


def split(start: int, stop: int, length: float, cuts: list[int], radius: int) -> list[Chunk]:
    """Chunks of about ``length`` frames over ``[start, stop)``, each boundary moved to the nearest cut
    within a quarter of ``length``; with ``radius > 0`` every inner boundary gets that much overlap."""
    total = stop - start
    count = max(1, round(total / length))
    step = total / count
    reach = max(1, int(step / 4))
    bounds = [start]
    for i in range(1, count):
        target = start + round(i * step)
        near = [c for c in cuts if abs(c - target) <= reach and bounds[-1] < c < stop]
        bound = min(near, key=lambda c: (abs(c - target), c)) if near else target
        if bounds[-1] < bound < stop:
            bounds.append(bound)
    bounds.append(stop)
    return [
        Chunk(index=k, start=a, stop=b, lo=max(start, a - radius), hi=min(stop, b + radius))
        for k, (a, b) in enumerate(itertools.pairwise(bounds))
    ]


def source_identity(path: Path) -> dict[str, Any]:
    """Path, size and sha256 of the source file."""
    return {
        "path": os.fspath(path.resolve()),
        "size": path.stat().st_size,
        "sha256": fileio.sha256_file(path),
    }
