"""Copy the audio streams of an input file into an output container, packet for packet (no re-encode)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from fractions import Fraction
from typing import cast

import av

log = logging.getLogger(__name__)


def check_audio(source: str | os.PathLike[str], muxer: str) -> int:
    """Raise ValueError when an audio stream of ``source`` cannot be stream-copied into a ``muxer`` file
    (``pcm_s16le`` into mp4, say); return the number of audio streams."""
    with av.open(os.fspath(source)) as inp, av.open(os.devnull, "w", format=muxer) as probe:
        for s in inp.streams.audio:
            if s.codec_context.name not in probe.supported_codecs:
                raise ValueError(
                    f"encode: the input's {s.codec_context.name} audio cannot be copied into a {muxer} "
                    "file; use .mkv or --no-audio"
                )
        return len(inp.streams.audio)


class AudioCopier:
    """Remux the audio of ``source`` into ``out`` in step with the video being written.

    Call :meth:`mux_until` with the video time written so far (seconds; None = everything left) so the
    muxer receives audio and video interleaved. ``window`` = (start, end) seconds keeps the packets
    that overlap it and shifts them to start at 0 (end None = to the end): packet-exact, not
    sample-exact, which is what stream copy can do. Times count from the input's first video frame
    (its video stream's start time; MPEG-TS streams start at ≈ 1.4 s), as the video is written from 0.
    Create it before the first packet is muxed, after :func:`check_audio` said the streams fit the
    container.
    """

    def __init__(
        self,
        source: str | os.PathLike[str],
        out: av.container.OutputContainer,
        window: tuple[Fraction, Fraction | None] = (Fraction(0), None),
    ) -> None:
        self.input = av.open(os.fspath(source))
        self.start, self.end = window
        self.origin = _origin(self.input)
        self.map: dict[int, av.stream.Stream] = {}
        for s in self.input.streams.audio:
            self.map[s.index] = out.add_stream_from_template(s)
        self.out = out
        self.packets: Iterator[av.Packet[av.stream.Stream]] = (
            self.input.demux(*self.input.streams.audio) if self.map else iter(())
        )
        self.pending: av.Packet[av.stream.Stream] | None = None
        self.pending_t = 0.0
        self.copied = 0
        log.debug("audio: copying %d stream(s) from %s", len(self.map), os.fspath(source))

    def _next(self) -> tuple[av.Packet[av.stream.Stream], float] | None:
        for pkt in self.packets:
            if pkt.dts is None or pkt.pts is None:  # demuxer flush packets
                continue
            t = float(pkt.pts * pkt.time_base - self.origin)
            if (self.start or self.origin) and t + float((pkt.duration or 0) * pkt.time_base) <= self.start:
                continue  # ends before the window (at start 0, keep encoder-priming packets)
            if self.end is not None and t >= self.end:
                return None
            return pkt, t - float(self.start)
        return None

    def mux_until(self, seconds: float | None) -> None:
        """Mux every packet (of the window) starting before ``seconds`` of output time."""
        while True:
            if self.pending is None:
                got = self._next()
                if got is None:
                    self.packets = iter(())
                    return
                self.pending, self.pending_t = got
            if seconds is not None and self.pending_t >= seconds:
                return
            pkt, self.pending = self.pending, None
            assert pkt.pts is not None and pkt.dts is not None  # _next skips packets without them
            shift = int((self.start + self.origin) / pkt.time_base)
            pkt.pts -= shift
            pkt.dts -= shift
            pkt.stream = self.map[pkt.stream.index]
            self.out.mux(pkt)
            self.copied += 1

    def close(self) -> None:
        self.input.close()


def _origin(container: av.container.InputContainer) -> Fraction:
    """Seconds at which ``container``'s output time 0 lies: its first video stream's start time (else the
    container's start time, else 0)."""
    video = container.streams.video
    if video and video[0].start_time is not None and video[0].time_base is not None:
        tb = video[0].time_base
        return video[0].start_time * Fraction(tb.numerator, tb.denominator)
    # PyAV returns None when the container has no start time; its stub says int
    start = cast("int | None", container.start_time)
    if start is not None:
        return Fraction(start, av.time_base)
    return Fraction(0)
