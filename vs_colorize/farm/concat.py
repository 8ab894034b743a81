"""``farm concat``: check every chunk against the plan, then join them without re-encoding.

The chunks' video packets are remuxed in order with timestamps rebuilt from frame numbers (so they run on
without a gap or a jump at the boundaries), the source's audio and subtitle streams of the planned frame
range are copied packet for packet once, the colour tags ride along in the stream parameters, and the file
is written under a temporary name and renamed when complete. If any chunk is missing or foreign, nothing is
written and :class:`ChunksToRedo` lists them.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from ..core import fileio
from ..io.audio import _origin
from ..io.encode import container_of
from .chunk import check_chunk, encode_settings
from .plan import Chunk, Plan

log = logging.getLogger("vs_colorize")


class ChunksToRedo(Exception):
    """Chunks that are missing, incomplete or foreign: ``problems`` maps chunk index → reason."""

    def __init__(self, problems: dict[int, str]) -> None:
        self.problems = problems
        lines = "; ".join(f"chunk {k}: {why}" for k, why in sorted(problems.items()))
        super().__init__(f"farm concat: {len(problems)} chunk(s) to redo: {lines}")

    @property
    def indices(self) -> str:
        """The indices as a Slurm ``--array`` list (``3,7,12``)."""
        return ",".join(str(k) for k in sorted(self.problems))


def check_all(plan_dir: Path, plan: Plan) -> None:
    """Raise :class:`ChunksToRedo` unless every chunk of ``plan`` is present, complete and its own."""
    problems = {c.index: why for c in plan.chunks if (why := check_chunk(plan_dir, plan, c)) is not None}
    if problems:
        raise ChunksToRedo(problems)


def _copied_streams(source: av.container.InputContainer, audio: bool) -> list[av.stream.Stream]:
    return [*(source.streams.audio if audio else ()), *source.streams.subtitles]


def check_output(plan: Plan, output: Path) -> None:
    """Raise ValueError when the chunks' codec or a copied stream cannot go into ``output``'s container."""
    muxer = container_of(output)
    with av.open(plan.source["path"]) as src, av.open(os.devnull, "w", format=muxer) as probe:
        names = [s.codec_context.name for s in _copied_streams(src, plan.settings["audio"])]
        for name in [encode_settings(plan.settings).encoder, *names]:
            if name not in probe.supported_codecs:
                raise ValueError(
                    f"farm concat: {name} cannot go into a {muxer} file; pick another extension (.mkv holds all)"
                )


def _source_packets(
    source: av.container.InputContainer, streams: dict[int, av.stream.Stream], start: Fraction, end: Fraction
) -> Iterator[tuple[float, av.Packet[Any]]]:
    """Packets of the mapped streams overlapping ``[start, end)`` seconds of the video, shifted to start at 0."""
    if not streams:
        return
    origin = _origin(source)
    for pkt in source.demux(*(source.streams[i] for i in streams)):
        if pkt.pts is None or pkt.dts is None:
            continue
        t = pkt.pts * pkt.time_base - origin
        if t + (pkt.duration or 0) * pkt.time_base <= start and (start or origin):
            continue
        if t >= end:
            continue
        shift = int((start + origin) / pkt.time_base)
        pkt.pts -= shift
        pkt.dts -= shift
        pkt.stream = streams[pkt.stream.index]
        yield float(t - start), pkt


def _video_packets(
    plan_dir: Path, plan: Plan, out: av.video.stream.VideoStream, counter: list[int]
) -> Iterator[tuple[float, av.Packet[Any]]]:
    """Every chunk's video packets in order, timestamps renumbered in frames from the selection's start.

    pts comes from the chunk's own timestamps (rounded to its frame), dts is the packet's decode position
    minus the largest reorder delay of all chunks, so it rises by one per packet across the boundaries and
    never passes pts (the muxers want both).
    """
    rate = Fraction(*plan.fps)
    tick = 1 / rate
    first = plan.frames[0]
    delay = max(_reorder_delay(plan_dir, plan, c) for c in plan.chunks)
    for chunk in plan.chunks:
        offset = chunk.start - first
        with av.open(os.fspath(plan.chunk_path(plan_dir, chunk))) as c:
            stream = c.streams.video[0]
            count = 0
            for pkt in c.demux(stream):
                if pkt.size == 0 or pkt.pts is None:
                    continue
                pts = round(pkt.pts * pkt.time_base * rate) + offset
                pkt.pts, pkt.dts, pkt.duration = pts, offset + count - delay, 1  # one frame each
                pkt.time_base, pkt.stream = tick, out
                count += 1
                counter[0] += 1
                yield float(pts * tick), pkt
            if count != chunk.frames:
                raise ValueError(
                    f"farm concat: chunk {chunk.index} holds {count} packets, not {chunk.frames}"
                )


def _reorder_delay(plan_dir: Path, plan: Plan, chunk: Chunk) -> int:
    record = json.loads(plan.record_path(plan_dir, chunk).read_text())
    return int(record["reorder_delay"])


def concat(plan_dir: Path, plan: Plan, output: Path, *, overwrite: bool = False) -> int:
    """Check all chunks, then join them into ``output``; return the number of video frames written.

    Raises :class:`ChunksToRedo` (nothing written), ValueError for an output that cannot hold the streams,
    FileExistsError for an existing output without ``overwrite``.
    """
    container_of(output)
    if output.exists() and not overwrite:
        raise FileExistsError(
            f"farm concat: output {os.fspath(output)!r} exists; pass --overwrite to replace it"
        )
    check_all(plan_dir, plan)
    check_output(plan, output)
    t0 = time.monotonic()
    rate = Fraction(*plan.fps)
    start, end = plan.frames[0] / rate, plan.frames[1] / rate
    counter = [0]
    with fileio.atomic_output(output, overwrite=overwrite) as tmp:
        first = plan.chunk_path(plan_dir, plan.chunks[0])
        with (
            av.open(os.fspath(tmp), "w", format=container_of(output)) as out,
            av.open(os.fspath(first)) as template,
            av.open(plan.source["path"]) as source,
        ):
            video = out.add_stream_from_template(template.streams.video[0])
            video.time_base = 1 / rate
            streams = {
                s.index: out.add_stream_from_template(s)
                for s in _copied_streams(source, plan.settings["audio"])
            }
            merged = heapq.merge(
                _video_packets(plan_dir, plan, video, counter),
                _source_packets(source, streams, start, end),
                key=lambda item: item[0],
            )
            for _, pkt in merged:
                out.mux(pkt)
    frames = counter[0]
    seconds = time.monotonic() - t0
    log.info(
        "farm concat: %d frames from %d chunks in %.2f s (%.0fx real time) -> %s",
        frames,
        len(plan.chunks),
        seconds,
        float(frames / rate) / max(seconds, 1e-9),
        output,
    )
    return frames
