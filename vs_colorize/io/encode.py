"""Encode a clip to a file: settings, validation and the in-process PyAV encoder.

The container comes from the output's extension (``.mkv``/``.mp4``/``.mov``; ``.png``/``.tif`` for
stills, see :mod:`.image`). Colour is tagged from the clip's frame props (``_Matrix``, ``_Primaries``,
``_Transfer``, ``_Range``) on the encoder, the field order from ``_FieldBased``, frame rate and frame
count are kept, the first frame's ``Timecode`` and ``Reel`` props become the stream's timecode and reel
name (a tmcd track in MOV/MP4, tags in Matroska), and the input's audio
streams are copied packet for packet (:mod:`.audio`). The ``ffmpeg`` binary path lives in :mod:`.ffmpeg`.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Literal, cast

import av
import numpy as np
import vapoursynth as vs

from .audio import AudioCopier
from .formats import JPEG_FORMATS, ColourTags, pix_fmt_of, vs_format_of

log = logging.getLogger(__name__)

EncoderKind = Literal["auto", "pyav", "ffmpeg"]
ENCODERS: tuple[str, ...] = ("auto", "pyav", "ffmpeg")
#: Output extension → FFmpeg muxer.
CONTAINERS: dict[str, str] = {".mkv": "matroska", ".mp4": "mp4", ".mov": "mov"}
#: Short names accepted for ``codec``.
CODEC_ALIASES: dict[str, str] = {
    "x264": "libx264", "h264": "libx264", "avc": "libx264", "x265": "libx265", "h265": "libx265",
    "hevc": "libx265", "prores": "prores_ks", "prores422": "prores_ks", "prores4444": "prores_ks",
    "dnxhr": "dnxhd", "dnxhr_hq": "dnxhd", "dnxhr_hqx": "dnxhd", "dnxhr_444": "dnxhd",
    "vp9": "libvpx-vp9", "av1": "libsvtav1",
}  # fmt: skip
#: Aliases that also choose an encoder profile (``-profile:v``).
CODEC_PROFILES: dict[str, str] = {
    "prores422": "hq", "prores4444": "4444", "dnxhr": "dnxhr_hq", "dnxhr_hq": "dnxhr_hq",
    "dnxhr_hqx": "dnxhr_hqx", "dnxhr_444": "dnxhr_444",
}  # fmt: skip
#: Pixel formats a profile takes (FFmpeg lists the encoder's, not the profile's).
PROFILE_FORMATS: dict[str, tuple[str, ...]] = {
    "hq": ("yuv422p10le",), "4444": ("yuv444p10le",), "dnxhr_hq": ("yuv422p",),
    "dnxhr_hqx": ("yuv422p10le",), "dnxhr_444": ("yuv444p10le", "gbrp10le"),
}  # fmt: skip
#: Encoders whose streams carry no range flag and are read as limited range by every decoder and NLE.
LIMITED_RANGE_ONLY: frozenset[str] = frozenset({"prores_ks", "prores_aw", "prores", "dnxhd"})
#: Encoders that take ``crf``: (min, max, default).
CRF_RANGES: dict[str, tuple[int, int, int]] = {
    "libx264": (0, 51, 18), "libx265": (0, 51, 20), "libvpx-vp9": (0, 63, 24), "libsvtav1": (0, 63, 28),
}  # fmt: skip
X26X_PRESETS: tuple[str, ...] = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo",
)  # fmt: skip
#: Progress callback: called with the number of frames written so far.
ProgressFn = Callable[[int], None]


class EncodeError(RuntimeError):
    """Encoding or muxing failed."""


@dataclass(frozen=True, kw_only=True)
class EncodeSettings:
    """How to encode the video stream.

    ``codec``: an FFmpeg encoder name or alias (``x264`` default, ``x265``, ``ffv1``, ``prores``, ``vp9``,
    ``av1``, …). ``crf``: quality for x264/x265 (0–51), vp9/av1 (0–63); None = the encoder's default
    here (x264 18, x265 20). ``preset``: x264/x265 preset (``ultrafast`` … ``placebo``) or svt-av1's
    0–13; None = ``medium`` for x26x. ``pix_fmt``: planar FFmpeg pixel format to convert to before
    encoding (e.g. ``yuv422p10le`` for ProRes; None = the clip's own). ``audio``: copy the input's audio
    streams. ``threads``: encoder threads (0 = FFmpeg decides).
    """

    codec: str = "libx264"
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    audio: bool = True
    threads: int = 0

    @property
    def encoder(self) -> str:
        return CODEC_ALIASES.get(self.codec, self.codec)

    @property
    def profile(self) -> str | None:
        """The encoder profile the codec alias names (``prores4444`` → ``4444``), else None."""
        if self.codec in CODEC_PROFILES:
            return CODEC_PROFILES[self.codec]
        return "dnxhr_hq" if self.encoder == "dnxhd" else None  # DNxHD proper needs fixed sizes/rates

    def validate(self) -> None:
        """Check the values that do not depend on the clip; raise ValueError naming the argument."""
        enc = self.encoder
        if enc in CRF_RANGES:
            lo, hi, _ = CRF_RANGES[enc]
            if self.crf is not None and not lo <= self.crf <= hi:
                raise ValueError(f"encode: crf must be in {lo}..{hi} for {enc}, got {self.crf}")
        elif self.crf is not None:
            raise ValueError(f"encode: codec {enc!r} takes no crf (it is lossless or bitrate-driven)")
        if enc in ("libx264", "libx265") and self.preset is not None and self.preset not in X26X_PRESETS:
            raise ValueError(f"encode: preset must be one of {X26X_PRESETS} for {enc}, got {self.preset!r}")
        if self.threads < 0:
            raise ValueError(f"encode: threads must be >= 0, got {self.threads}")
        if self.pix_fmt is not None and (self.pix_fmt in JPEG_FORMATS or vs_format_of(self.pix_fmt) is None):
            raise ValueError(
                f"encode: pix_fmt must be a planar YUV, GRAY or GBR format such as yuv422p10le, got {self.pix_fmt!r}"
            )

    def codec_options(self) -> dict[str, str]:
        """Private encoder options (the ``-crf``/``-preset`` of the ffmpeg command line)."""
        enc, opts = self.encoder, {}
        if enc in CRF_RANGES:
            opts["crf"] = str(self.crf if self.crf is not None else CRF_RANGES[enc][2])
        if enc in ("libx264", "libx265"):
            opts["preset"] = self.preset or "medium"
        elif enc == "libsvtav1" and self.preset is not None:
            opts["preset"] = self.preset
        if enc == "libvpx-vp9":
            opts["b"] = "0"  # constant quality mode
        if enc == "libx265":
            opts["x265-params"] = "log-level=error"
        if self.profile is not None:
            opts["profile"] = self.profile
        return opts


def container_of(path: str | os.PathLike[str]) -> str:
    """The muxer for an output path's extension; raise ValueError for an extension we do not write."""
    ext = Path(path).suffix.lower()
    if ext not in CONTAINERS:
        raise ValueError(
            f"encode: output extension {ext or '(none)'!r} is not supported; use one of {sorted(CONTAINERS)}"
            " (or .png/.tif for still images and image sequences)"
        )
    return CONTAINERS[ext]


def accepted_formats(settings: EncodeSettings) -> list[str]:
    """The pixel formats the encoder (and the profile its alias names) takes; [] when unknown."""
    if settings.profile in PROFILE_FORMATS:
        return list(PROFILE_FORMATS[settings.profile])
    try:
        codec = av.codec.Codec(settings.encoder, "w")
    except (av.FFmpegError, ValueError):
        return []
    return [f.name for f in codec.video_formats or ()]


def _loss(src: tuple[int, int, int, int, int], cand: tuple[int, int, int, int, int]) -> tuple[int, ...]:
    """How much converting ``src`` to ``cand`` loses, as a sortable key (smaller is better): first
    depth lost, then chroma resolution lost, then a family change, then the extra bits carried."""
    family, sample, bits, ssw, ssh = src
    c_family, c_sample, c_bits, c_ssw, c_ssh = cand
    src_bits = 16 if sample == vs.FLOAT else bits
    depth_lost = max(0, src_bits - c_bits) + (8 if sample == vs.FLOAT and c_sample != vs.FLOAT else 0)
    chroma_lost = max(0, c_ssw - ssw) + max(0, c_ssh - ssh)
    if family == vs.GRAY:
        chroma_lost = 0
    elif c_family == vs.GRAY:
        chroma_lost = 99  # the colour itself
    family_change = int(c_family != family)
    reshaped = abs(c_ssw - ssw) + abs(c_ssh - ssh)
    return (chroma_lost, depth_lost, family_change, reshaped, max(0, c_bits - src_bits))


def best_pix_fmt(settings: EncodeSettings, fmt: vs.VideoFormat) -> str | None:
    """The accepted pixel format that loses least from ``fmt`` (None: ``fmt`` itself is taken or the
    encoder's formats are unknown). Colour kept before depth, depth before a matrix change: see the
    table in docs/restoration.md."""
    accepted = accepted_formats(settings)
    try:
        own = pix_fmt_of(fmt)
    except ValueError:
        own = None
    if not accepted or own in accepted:
        return None
    src = (fmt.color_family, fmt.sample_type, fmt.bits_per_sample, fmt.subsampling_w, fmt.subsampling_h)
    held = [(name, vs_format_of(name)) for name in accepted if name not in JPEG_FORMATS]
    ranked = sorted((_loss(src, f), name) for name, f in held if f is not None)
    return ranked[0][1] if ranked else None


def check_codec(settings: EncodeSettings, fmt: vs.VideoFormat, muxer: str) -> str:
    """Check that PyAV's FFmpeg has the encoder, that it takes ``fmt`` and fits ``muxer``; return pix_fmt."""
    enc = settings.encoder
    try:
        codec = av.codec.Codec(enc, "w")
    except (av.FFmpegError, ValueError) as exc:
        raise ValueError(f"encode: codec {settings.codec!r} is not an encoder this FFmpeg has") from exc
    if codec.type != "video":
        raise ValueError(f"encode: codec {settings.codec!r} is not a video encoder")
    pix_fmt = pix_fmt_of(fmt)
    supported = accepted_formats(settings)
    if supported and pix_fmt not in supported:
        raise ValueError(
            f"encode: codec {enc!r} cannot write {fmt.name} ({pix_fmt}); it takes {', '.join(supported)}"
            " (convert with pix_fmt / --pix-fmt)"
        )
    with av.open(os.devnull, "w", format=muxer) as probe:
        if enc not in probe.supported_codecs:
            raise ValueError(f"encode: codec {enc!r} cannot go into a {muxer} file; pick another extension")
    return pix_fmt


def pick_encoder(kind: EncoderKind) -> Literal["pyav", "ffmpeg"]:
    """``auto`` → PyAV (in-process, always present); ``ffmpeg`` needs the binary on PATH."""
    if kind not in ENCODERS:
        raise ValueError(f"encode: encoder must be one of {ENCODERS}, got {kind!r}")
    if kind == "ffmpeg" and shutil.which("ffmpeg") is None:
        raise ValueError("encode: encoder='ffmpeg' but no ffmpeg binary is on PATH")
    return "pyav" if kind == "auto" else kind


def _timestamps(clip: vs.VideoNode) -> tuple[Fraction, Callable[[int, vs.VideoFrame], int]]:
    """Codec time base and a pts function: frame numbers at CFR, frame durations summed at VFR."""
    if clip.fps.numerator:
        return Fraction(clip.fps.denominator, clip.fps.numerator), lambda n, f: n
    tb, elapsed = Fraction(1, 90000), [Fraction(0)]

    def pts(n: int, f: vs.VideoFrame) -> int:
        value = round(elapsed[0] / tb)
        elapsed[0] += Fraction(f.props.get("_DurationNum", 1), f.props.get("_DurationDen", 25))
        return value

    return tb, pts


def sample_aspect_ratio(frame: vs.VideoFrame) -> Fraction | None:
    """``_SARNum/_SARDen`` of a frame when set and not square, else None."""
    num, den = int(frame.props.get("_SARNum", 0)), int(frame.props.get("_SARDen", 0))
    return Fraction(num, den) if num > 0 and den > 0 and num != den else None


def field_order(frame: vs.VideoFrame) -> int:
    """FFmpeg ``AVFieldOrder`` for a frame's ``_FieldBased``: 2 (TT) top field first, 3 (BB) bottom
    first, 0 progressive."""
    return {2: 2, 1: 3}.get(int(frame.props.get("_FieldBased", 0)), 0)


def _copy_planes(src: vs.VideoFrame, dst: av.VideoFrame) -> None:
    dtype = np.uint8 if src.format.bytes_per_sample == 1 else np.uint16
    order = (2, 0, 1) if src.format.color_family == vs.RGB else (0, 1, 2)  # gbrp stores G, B, R
    for p in range(src.format.num_planes):
        plane = dst.planes[order[p] if src.format.num_planes == 3 else p]
        rows = np.frombuffer(plane, dtype).reshape(plane.height, -1)
        data = np.asarray(src[p])
        np.copyto(rows[: data.shape[0], : data.shape[1]], data)


def encode_pyav(
    clip: vs.VideoNode,
    out: str | os.PathLike[str] | BinaryIO,
    settings: EncodeSettings,
    *,
    audio_from: str | os.PathLike[str] | None = None,
    audio_window: tuple[Fraction, Fraction | None] = (Fraction(0), None),
    progress: ProgressFn | None = None,
    muxer: str | None = None,
) -> int:
    """Encode ``clip`` into ``out`` in-process with PyAV; return the number of frames written.

    ``out``'s extension picks the container, or ``muxer`` does (required when ``out`` is a binary stream
    such as standard output). ``audio_from``: a file whose audio streams are copied
    (only packets inside ``audio_window`` = (start, end) seconds, shifted to start at 0; end None = to
    the end). ``progress`` is called after every frame.
    """
    if muxer is None:
        if not isinstance(out, str | os.PathLike):
            raise ValueError("encode: writing to a stream needs its muxer")
        muxer = container_of(out)
    pix_fmt = check_codec(settings, clip.format, muxer)
    time_base, pts_of = _timestamps(clip)
    first = clip.get_frame(0)
    tags = ColourTags.from_frame(first)
    written = 0
    try:
        target = os.fspath(out) if isinstance(out, str | os.PathLike) else out
        with av.open(target, "w", format=muxer) as container:
            stream = cast(  # check_codec accepted settings.encoder as a video encoder
                av.VideoStream,
                container.add_stream(settings.encoder, rate=clip.fps if clip.fps.numerator else None),
            )
            ctx = stream.codec_context
            ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = clip.width, clip.height, pix_fmt, time_base
            ctx.colorspace, ctx.color_primaries, ctx.color_trc = tags.matrix, tags.primaries, tags.transfer
            ctx.color_range = tags.range
            sar = sample_aspect_ratio(first)
            if sar is not None:  # carried by codecs that store it (x264/x265), not by ffv1 here
                ctx.sample_aspect_ratio = sar
            ctx.field_order = field_order(first)  # stored by Matroska/MOV: interlaced output stays flagged
            ctx.thread_count = settings.threads
            for key, prop in (("timecode", "Timecode"), ("reel_name", "Reel")):
                if prop in first.props:  # MOV/MP4: a tmcd track; Matroska: a stream tag
                    stream.metadata[key] = str(first.props[prop])
            ctx.options = settings.codec_options()
            copier = (
                AudioCopier(audio_from, container, audio_window) if settings.audio and audio_from else None
            )
            try:
                for n, frame in enumerate(clip.frames(close=True)):
                    vf = av.VideoFrame(clip.width, clip.height, pix_fmt)
                    _copy_planes(frame, vf)
                    vf.pts, vf.time_base = pts_of(n, frame), time_base
                    vf.colorspace, vf.color_range = tags.matrix, tags.range
                    container.mux(stream.encode(vf))
                    written = n + 1
                    if copier is not None:
                        copier.mux_until(float((vf.pts + 1) * time_base))
                    if progress is not None:
                        progress(written)
                container.mux(stream.encode(None))
                if copier is not None:
                    copier.mux_until(None)
            finally:
                if copier is not None:
                    copier.close()
    except av.FFmpegError as exc:
        where = os.fspath(out) if isinstance(out, str | os.PathLike) else "<stream>"
        raise EncodeError(f"encode: {settings.encoder} into {where!r} failed: {exc}") from exc
    log.debug("encode: %d frames, %s %s, %s", written, settings.encoder, pix_fmt, tags)
    return written
