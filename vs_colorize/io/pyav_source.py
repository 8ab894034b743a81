"""A best-effort VapourSynth source on top of PyAV, for machines without a source plugin.

A demux-only pre-scan collects every frame's presentation timestamp (so the frame count is exact), a
``BlankClip`` of the right format and length carries the clip, and a ``std.ModifyFrame`` callback fills
each frame from one sequential decoder kept under a lock. A request behind the decoder, or far ahead
of it, seeks backward to the keyframe before it and decodes forward. Planes are copied, so frames stay
valid after the decoder moves on.

BestSource is far more robust (VFR, open GOPs, edit lists, field order); this is the fallback.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from fractions import Fraction

import av
import numpy as np
import vapoursynth as vs

from .formats import AV_TO_VS_RANGE, JPEG_FORMATS, vs_format_of

log = logging.getLogger(__name__)

#: Decode forward instead of seeking when the request lies at most this many frames ahead.
SEEK_THRESHOLD = 48
#: Marks source errors caused by undecodable data (the CLI maps them to "unreadable input").
DAMAGED = "damaged input"


class SourceError(RuntimeError):
    """An input cannot be opened or decoded as video."""


def _target_pix_fmt(fmt: av.VideoFormat) -> str:
    """The planar format a decoded frame is stored in: its own when VS can hold it, else a close one.

    Subsampled frames of odd size (JPEGs of 971 lines) go to 4:4:4, which VS can hold.
    """
    held = vs_format_of(fmt.name)
    if held is not None:
        ssw, ssh = held[3], held[4]
        if fmt.width % (1 << ssw) == 0 and fmt.height % (1 << ssh) == 0:
            return fmt.name
        full = "yuvj444p" if fmt.name in JPEG_FORMATS else "yuv444p"
        return full + ("" if held[2] == 8 else f"{held[2]}le")
    if "f32" in fmt.name or "f16" in fmt.name:  # float pictures (EXR, float TIFF) stay float
        return "gbrpf32le" if fmt.is_rgb or len(fmt.components) > 2 else "grayf32le"
    bits = max(c.bits for c in fmt.components)
    depth = "" if bits <= 8 else "16le"
    if fmt.is_rgb or fmt.has_palette:
        return "gbrp" + depth
    if len(fmt.components) <= 2:  # gray, gray + alpha
        return "gray" + depth
    return ("yuv444p" if fmt.chroma_width() == fmt.width else "yuv420p") + depth


#: FFmpeg decoders of still pictures: their grey pictures are full range even when untagged.
IMAGE_CODECS = frozenset(
    {"png", "apng", "mjpeg", "jpegls", "tiff", "bmp", "webp", "jpeg2000", "qoi", "pgm", "pgmyuv"}
)

#: FFmpeg ``AVFieldOrder`` (TT, BB, TB, BT) → VS ``_FieldBased`` (2 top field first, 1 bottom first).
FIELD_BASED: dict[int, int] = {2: 2, 3: 1, 4: 2, 5: 1}


def _props_of(frame: av.VideoFrame, fps: Fraction, field_order: int = 0, codec: str = "") -> dict[str, int]:
    interlaced = frame.interlaced_frame or field_order in FIELD_BASED
    props: dict[str, int] = {"_FieldBased": FIELD_BASED.get(field_order, 2) if interlaced else 0}
    if fps:
        props["_DurationNum"], props["_DurationDen"] = fps.denominator, fps.numerator
    if frame.format.name in JPEG_FORMATS:
        props["_Range"] = 1
    elif int(frame.color_range) in AV_TO_VS_RANGE:
        props["_Range"] = AV_TO_VS_RANGE[int(frame.color_range)]
    elif (
        frame.format.is_rgb
        or frame.format.has_palette
        or (codec in IMAGE_CODECS and len(frame.format.components) <= 2)
    ):
        props["_Range"] = 1
    if frame.format.is_rgb or frame.format.has_palette:
        props["_Matrix"] = 0
    for key, value in (
        ("_Matrix", frame.colorspace),
        ("_Primaries", frame.color_primaries),
        ("_Transfer", frame.color_trc),
    ):
        if key not in props and int(value) not in (0, 2):
            props[key] = int(value)
    return props


class _Decoder:
    """One sequential decoder over a file, repositioned by seeking when needed. Not thread-safe.

    The container stays open as long as the clip's callback holds the decoder.
    """

    def __init__(self, path: str, stream_index: int, pts: list[int] | None, pix_fmt: str) -> None:
        self.path, self.stream_index, self.pix_fmt = path, stream_index, pix_fmt
        self.pts = pts  # None: the stream carries no timestamps, frames are counted from the start
        self.index_of = {p: i for i, p in enumerate(pts or ())}
        self.container: av.container.InputContainer | None = None
        self.frames: Iterator[av.VideoFrame] = iter(())
        self.next_index = -1  # index of the next frame the decoder yields; -1 = unknown
        self.tainted = False  # a frame decoded since the last seek was flagged corrupt
        self.seeked_to = 0  # the frame the last seek aimed at (0 = decoding from the start)

    def _restart(self) -> None:
        """Decode from the start of the file on a fresh open: no seek (MPEG-TS, whose streams start
        late, landed past frame 0 after a seek to it)."""
        if self.container is not None:
            self.container.close()
        self.container = av.open(self.path)
        stream = self.container.streams[self.stream_index]
        assert isinstance(stream, av.VideoStream)
        stream.thread_type = "AUTO"
        self.frames = self._decode()
        self.next_index = 0 if self.pts is None else -1
        self.tainted = False
        self.seeked_to = 0

    def _seek(self, n: int) -> None:
        if n == 0 or self.pts is None:
            self._restart()
            return
        if self.container is None:
            self._restart()
            # Prime the decoder with the first frame before any seek: H.264 decoders learn encoder
            # quirks from in-band SEI (x264's version string picks FFmpeg's workarounds). Seeking
            # straight into a 4:4:4 x264 stream without it decoded garbage (cockatoo.mp4, tested).
            next(self.frames, None)
        assert self.container is not None
        stream = self.container.streams[self.stream_index]
        self.container.seek(self.pts[n], stream=stream, backward=True)
        self.frames = self._decode()
        self.next_index = -1
        self.tainted = False
        self.seeked_to = n

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Frames from the current position; a packet that fails to decode taints and is skipped."""
        assert self.container is not None
        stream = self.container.streams[self.stream_index]
        for packet in self.container.demux(stream):
            try:
                yield from (f for f in packet.decode() if isinstance(f, av.VideoFrame))
            except av.FFmpegError as exc:
                self.tainted = True
                log.debug("pyav_source: a packet of %s does not decode: %s", self.path, exc)

    def _decode_until(self, n: int) -> av.VideoFrame | None:
        for frame in self.frames:
            i: int | None
            if self.pts is None:
                i = self.next_index
            else:
                i = None if frame.pts is None else self.index_of.get(frame.pts)
                if i is None:
                    continue
            self.next_index = i + 1
            self.tainted |= frame.is_corrupt
            if i == n:
                return frame if frame.format.name == self.pix_fmt else frame.reformat(format=self.pix_fmt)
            if i > n:
                return None
        return None

    def get(self, n: int) -> av.VideoFrame:
        """Frame ``n`` (0-based, presentation order) in the target pixel format.

        Raises SourceError (naming the frame, marked :data:`DAMAGED`) when it cannot be decoded.
        """
        try:
            if not (0 <= self.next_index <= n <= self.next_index + SEEK_THRESHOLD):
                self._seek(n)
            frame = self._decode_until(n)
            if (frame is None or self.tainted) and self.seeked_to > 0:
                # the seek landed past frame n, or decoding after it reported corruption (references
                # to frames before the keyframe): decode from the start instead, slow but right
                log.debug(
                    "pyav_source: seeking to frame %d of %s failed; decoding from the start", n, self.path
                )
                self._restart()
                frame = self._decode_until(n)
        except av.FFmpegError as exc:
            self.next_index = -1  # the decoder is in an unknown state: reposition on the next request
            raise SourceError(f"pyav_source: frame {n} of {self.path!r}: {DAMAGED}: {exc}") from exc
        if frame is None:
            raise SourceError(f"pyav_source: frame {n} of {self.path!r}: {DAMAGED}: it could not be decoded")
        return frame


def _open(path: str) -> av.container.InputContainer:
    try:
        container = av.open(path)
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"pyav_source: cannot open {path!r}: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise SourceError(f"pyav_source: {path!r} has no video stream")
    return container


def _decodable(container: av.container.InputContainer) -> list[int | None]:
    """Timestamps of the frames that decode whole (the slow scan behind ``decodable_only``)."""
    stream = container.streams.video[0]
    stamps: list[int | None] = []
    for packet in container.demux(stream):
        try:
            stamps += [f.pts for f in packet.decode() if isinstance(f, av.VideoFrame) and not f.is_corrupt]
        except av.FFmpegError:
            continue
    return stamps


def _scan(
    path: str, decodable_only: bool
) -> tuple[int, list[int] | None, int, Fraction, av.VideoFrame, int, str]:
    """Demux once for the pts list (None without timestamps), then decode the first frame."""
    try:
        with _open(path) as container:
            stream = container.streams.video[0]
            stamps = (
                _decodable(container)
                if decodable_only
                else [p.pts for p in container.demux(stream) if p.size]
            )
        with _open(path) as container:
            stream = container.streams.video[0]
            first = next(container.decode(stream), None)
            if first is None:
                raise SourceError(f"pyav_source: {path!r} holds no decodable video frame")
            rate = stream.average_rate or stream.guessed_rate
            fps = Fraction(rate.numerator, rate.denominator) if rate else Fraction(0)
            order, codec = int(stream.codec_context.field_order or 0), stream.codec_context.name
            known = [t for t in stamps if t is not None]
            if stamps and len(known) == len(stamps):
                pts = sorted(set(known))
                return stream.index, pts, len(pts), fps, first, order, codec
            count = 1 + sum(1 for _ in container.decode(stream))  # no timestamps: count by decoding
            return stream.index, None, count, fps, first, order, codec
    except av.FFmpegError as exc:
        raise SourceError(f"pyav_source: cannot decode {path!r}: {exc}") from exc


def pyav_source(
    path: str | os.PathLike[str], *, core: vs.Core | None = None, decodable_only: bool = False
) -> vs.VideoNode:
    """Open the first video stream of ``path`` as a VapourSynth clip through PyAV.

    ``path``: any file FFmpeg (as bundled with PyAV) can demux and decode, still images included
    (one frame). Formats VS cannot hold plane for plane (packed RGB, NV12, …) are converted to the
    nearest planar format (palettes to RGB, float pictures to 32-bit float). Sets ``_Range`` (untagged
    grey pictures of still-image decoders, :data:`IMAGE_CODECS`, are full range), ``_Matrix``/
    ``_Primaries``/``_Transfer`` when the stream says, ``_FieldBased`` from the decoder, and
    ``_DurationNum/_DurationDen``. Still images are better read by :func:`.still.still_source`. Raises
    :class:`SourceError` when the file cannot be used, or (marked :data:`DAMAGED`) when a frame cannot
    be decoded. ``decodable_only``: decode the whole file first and keep only the frames that decode
    whole (for damaged files; the clip is then shorter than the container says).
    """
    core = core or vs.core
    spath = os.fspath(path)
    stream_index, pts, length, fps, first, field_order, codec = _scan(spath, decodable_only)
    pix_fmt = _target_pix_fmt(first.format)
    held = vs_format_of(pix_fmt)
    assert held is not None  # _target_pix_fmt picks only formats VS can hold
    family, sample_type, bits, ssw, ssh = held
    fmt = core.query_video_format(family, sample_type, bits, ssw, ssh)
    fps_num, fps_den = (fps.numerator, fps.denominator) if fps else (1, 1)
    blank = core.std.BlankClip(
        format=fmt.id,
        width=first.width,
        height=first.height,
        length=length,
        fpsnum=fps_num,
        fpsden=fps_den,
        keep=True,
    )
    props = _props_of(first, fps, field_order, codec)
    if length == 1:  # a still image: keep the frame we already have
        frames = {0: first if first.format.name == pix_fmt else first.reformat(format=pix_fmt)}
    else:
        frames = {}
    decoder = _Decoder(spath, stream_index, pts, pix_fmt)
    lock = threading.Lock()
    # VS plane i → FFmpeg plane: gbrp stores G, B, R.
    order = (2, 0, 1) if family == vs.RGB else (0, 1, 2)
    dtype = np.float32 if sample_type == vs.FLOAT else np.uint8 if bits == 8 else np.uint16

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        with lock:
            src = frames[n] if n in frames else decoder.get(n)
            out = f.copy()
            for p in range(fmt.num_planes):
                plane = src.planes[order[p] if fmt.num_planes == 3 else p]
                dst = np.asarray(out[p])
                rows = np.frombuffer(plane, dtype).reshape(plane.height, -1)
                np.copyto(dst, rows[: dst.shape[0], : dst.shape[1]])
        out.props.update(props)
        return out

    clip = core.std.ModifyFrame(blank, blank, fill)
    log.debug("pyav_source: %s, %d frames, %s, fps %s", spath, length, pix_fmt, fps)
    return clip
