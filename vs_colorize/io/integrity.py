"""Damaged media: compare what a film's reader delivers with what its container promises.

One demux-only pass over the first video stream (no decoding, so it costs about one read of the file)
collects every packet's timestamp. The film is damaged when

* the demuxer fails part-way, or flags packets as corrupt;
* timestamps jump by more than 1.5 nominal frame durations past what the packet before says it lasts
  (a hole: frames lost to garbage), where that is evidence: in MP4/MOV, whose sample table gives every
  frame's duration, or in a stream with corrupt packets or a failed demux. Elsewhere (MKV, MPEG-TS
  without corruption) a jump may be a variable frame rate, so it is only logged as a warning;
* the container promises more: a frame count (MP4's sample table) or a stream duration (MP4, MKV's
  ``DURATION`` tag, MPEG-TS) beyond the last packet (a cut-off download);
* the reader delivers fewer frames than there are packets (BestSource drops undecodable frames; its
  timecodes name which).

MPEG-TS carries no promise of its length, so a TS cut at a packet boundary reads as complete. Frames
whose packets are present but do not decode surface in the PyAV reader when they are requested.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import vapoursynth as vs

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Damage:
    """What is missing from a film, as time ranges in seconds from the first frame."""

    path: Path
    gaps: list[tuple[float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = [f"{a:.3f}-{b:.3f} s missing" for a, b in self.gaps] + self.notes
        return "; ".join(parts)


@dataclass(frozen=True, kw_only=True)
class _Scan:
    times: np.ndarray  # packet presentation times, seconds, sorted
    ends: np.ndarray  # each packet's time plus its declared duration (= time when unknown)
    durations_exact: bool  # the container's durations are per frame (MP4/MOV sample tables)
    step: float  # nominal frame duration, seconds
    promised_end: float | None  # seconds, from the container
    promised_frames: int
    corrupt: list[float]
    error: str | None


def _scan(path: str) -> _Scan:
    corrupt: list[float] = []
    stamps: list[tuple[float, float]] = []
    error = None
    with av.open(path) as container:
        exact = any(name in container.format.name.split(",") for name in ("mov", "mp4"))
        stream = container.streams.video[0]
        tb = float(stream.time_base or 0)
        rate = stream.average_rate or stream.guessed_rate
        promised_end = None
        if stream.duration:
            promised_end = float((stream.start_time or 0) * tb) + float(stream.duration * tb)
        elif "DURATION" in stream.metadata:  # Matroska's per-track duration tag
            h, m, s = stream.metadata["DURATION"].split(":")
            promised_end = float((stream.start_time or 0) * tb) + int(h) * 3600 + int(m) * 60 + float(s)
        promised_frames = int(stream.frames or 0)
        try:
            for packet in container.demux(stream):
                if packet.size and packet.pts is not None:
                    t = float(packet.pts * tb)
                    stamps.append((t, t + float((packet.duration or 0) * tb)))
                    if packet.is_corrupt:
                        corrupt.append(t)
        except av.FFmpegError as exc:
            error = str(exc)
    pairs = np.asarray(sorted(stamps), np.float64).reshape(-1, 2)
    times, ends = pairs[:, 0], pairs[:, 1]
    diffs = np.diff(times)
    step = float(np.median(diffs)) if len(diffs) else (1 / float(rate) if rate else 0.04)
    return _Scan(
        times=times,
        ends=ends,
        durations_exact=exact,
        step=step,
        promised_end=promised_end,
        promised_frames=promised_frames,
        corrupt=corrupt,
        error=error,
    )


def _bestsource_times(clip: vs.VideoNode, path: str) -> np.ndarray | None:
    """Frame times (seconds) of a BestSource clip from its index, or None."""
    core = vs.core
    if not hasattr(core, "bs"):
        return None
    from ..core import cache

    with tempfile.TemporaryDirectory() as tmp:
        tc = os.path.join(tmp, "timecodes.txt")
        core.bs.VideoSource(
            source=path, cachepath=os.fspath(cache.subdir("bsindex")), showprogress=0, timecodes=tc
        )
        with open(tc, encoding="ascii") as f:
            values = [float(line) for line in f if line.strip() and not line.startswith("#")]
    return np.asarray(values, np.float64) / 1000


def find_damage(path: str | os.PathLike[str], clip: vs.VideoNode, *, reader: str) -> Damage | None:
    """What ``clip`` (read by ``reader``: ``"bestsource"`` or ``"pyav"``) lacks of ``path``; None if whole."""
    spath = os.fspath(path)
    scan = _scan(spath)
    times, step = scan.times, scan.step
    if not len(times):
        return None
    t0 = float(times[0])
    gaps: list[tuple[float, float]] = []
    notes: list[str] = []
    jumps: list[tuple[float, float]] = []
    for i in np.nonzero(np.diff(times) > 1.5 * step)[0]:
        if scan.ends[i] < times[i + 1] - step / 2:  # longer than the packet says it lasts
            jumps.append((float(times[i]) + step - t0, float(times[i + 1]) - t0))
    if scan.durations_exact or scan.corrupt or scan.error is not None:
        gaps += jumps
    elif jumps:
        log.warning(
            "%s: timestamps jump at %s (a variable frame rate, or frames lost)",
            spath,
            ", ".join(f"{a:.3f}-{b:.3f} s" for a, b in jumps[:5]),
        )
    end = float(times[-1]) + step
    if scan.error is not None:
        notes.append(f"the demuxer failed after {end - t0:.3f} s ({scan.error})")
    if scan.promised_end is not None and scan.promised_end - end > max(2 * step, 0.1):
        gaps.append((end - t0, scan.promised_end - t0))
    elif scan.promised_frames > len(times):
        missing = scan.promised_frames - len(times)
        gaps.append((end - t0, end - t0 + missing * step))
    if scan.corrupt:
        notes.append("corrupt packets at " + ", ".join(f"{t - t0:.3f} s" for t in scan.corrupt[:5]))
    if clip.num_frames < len(times):
        delivered = _bestsource_times(clip, spath) if reader == "bestsource" else None
        if delivered is not None and len(delivered) == clip.num_frames:
            rel = times - t0
            lost = [t for t in rel if not len(delivered) or np.min(np.abs(delivered - t)) > step / 2]
            if lost:  # none lost: packets without a frame of their own (field pairs), not damage
                notes.append(f"{len(lost)} frames do not decode, at " + _spans(lost, step))
        else:
            notes.append(f"the reader decodes {clip.num_frames} of {len(times)} frames")
    if not gaps and not notes:
        return None
    return Damage(path=Path(spath), gaps=gaps, notes=notes)


def _spans(times: list[float], step: float) -> str:
    """Times (s) → ``"2.120-2.480 s, 3.000 s"`` (runs one frame apart joined)."""
    out: list[str] = []
    start = prev = times[0]
    for t in [*times[1:], None]:
        if t is not None and t - prev <= 1.5 * step:
            prev = t
            continue
        out.append(f"{start:.3f} s" if start == prev else f"{start:.3f}-{prev:.3f} s")
        if t is not None:
            start = prev = t
    return ", ".join(out)
