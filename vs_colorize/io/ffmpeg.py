"""Encode through an ``ffmpeg`` binary: y4m on its stdin, audio mapped from the input file.

This is the same chain as ``vspipe -c y4m … | ffmpeg -f yuv4mpegpipe -i - -i IN -map 0:v -map 1:a? …``,
run from Python. y4m carries no colour description, so matrix/primaries/transfer/range are given to
ffmpeg as output options taken from the clip's frame props.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from fractions import Fraction

import vapoursynth as vs

from .encode import (
    EncodeError,
    EncodeSettings,
    ProgressFn,
    check_codec,
    container_of,
    field_order,
    sample_aspect_ratio,
)
from .formats import ColourTags

log = logging.getLogger(__name__)


def ffmpeg_command(
    clip: vs.VideoNode,
    out: str | os.PathLike[str],
    settings: EncodeSettings,
    *,
    audio_from: str | os.PathLike[str] | None = None,
    audio_window: tuple[Fraction, Fraction | None] = (Fraction(0), None),
    ffmpeg: str = "ffmpeg",
) -> list[str]:
    """The ffmpeg argument list that encodes a y4m stream of ``clip`` from stdin into ``out``."""
    muxer = container_of(out)
    pix_fmt = check_codec(settings, clip.format, muxer)
    if not clip.fps.numerator:
        raise ValueError("encode: y4m needs a constant frame rate; encode variable-rate clips with PyAV")
    first = clip.get_frame(0)
    tags = ColourTags.from_frame(first)
    # Tag the y4m input too: with untagged input frames, ffmpeg (9.0 measured) would convert to the output tags
    # (full-range output got its luma rescaled) instead of just writing them.
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "yuv4mpegpipe"]
    cmd += [*tags.ffmpeg_args(), "-i", "-"]
    audio = audio_from if settings.audio else None
    if audio is not None:
        start, end = audio_window
        if start:
            cmd += ["-ss", f"{float(start):.6f}"]
        if end is not None:
            cmd += ["-t", f"{float(end - start):.6f}"]
        cmd += ["-i", os.fspath(audio)]
    cmd += ["-map", "0:v:0"] + (["-map", "1:a?", "-c:a", "copy"] if audio is not None else [])
    cmd += ["-c:v", settings.encoder, "-pix_fmt", pix_fmt]
    for key, value in settings.codec_options().items():
        cmd += [f"-{key}", value]
    if settings.threads:
        cmd += ["-threads", str(settings.threads)]
    cmd += tags.ffmpeg_args()
    sar = sample_aspect_ratio(first)
    if sar is not None:  # ffmpeg takes the display aspect ratio
        dar = sar * Fraction(clip.width, clip.height)
        cmd += ["-aspect", f"{dar.numerator}:{dar.denominator}"]
    order = field_order(first)
    if order:  # interlaced (y4m from VapourSynth says progressive): flag the frames, code the fields
        cmd += ["-vf", "setfield=" + {2: "tff", 3: "bff"}[order], "-flags", "+ildct+ilme"]
    if "Timecode" in first.props:  # the same timecode and reel as the PyAV path
        cmd += ["-timecode", str(first.props["Timecode"])]
    if "Reel" in first.props:
        cmd += ["-metadata:s:v:0", f"reel_name={first.props['Reel']}"]
    cmd += ["-f", muxer, os.fspath(out)]
    return cmd


def encode_ffmpeg(
    clip: vs.VideoNode,
    out: str | os.PathLike[str],
    settings: EncodeSettings,
    *,
    audio_from: str | os.PathLike[str] | None = None,
    audio_window: tuple[Fraction, Fraction | None] = (Fraction(0), None),
    progress: ProgressFn | None = None,
    ffmpeg: str | None = None,
) -> int:
    """Encode ``clip`` into ``out`` by piping y4m into ``ffmpeg``; return the number of frames written.

    Arguments as for :func:`.encode.encode_pyav`; ``ffmpeg`` is the binary (default: ``ffmpeg`` on PATH).
    The encoder must be one PyAV's FFmpeg also knows (the codec checks run there). Raises
    :class:`.encode.EncodeError` with ffmpeg's own message when it fails. On any exception (Ctrl-C
    included) ffmpeg is killed before the exception propagates.
    """
    binary = ffmpeg or shutil.which("ffmpeg")
    if binary is None:
        raise EncodeError("encode: no ffmpeg binary on PATH")
    cmd = ffmpeg_command(clip, out, settings, audio_from=audio_from, audio_window=audio_window, ffmpeg=binary)
    log.debug("encode: %s", " ".join(cmd))
    done = [0]

    def on_frame(current: int, total: int) -> None:
        done[0] = current
        if progress is not None:
            progress(current)

    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
        assert proc.stdin is not None  # stdin=PIPE
        try:
            try:
                clip.output(proc.stdin, y4m=True, progress_update=on_frame)
            finally:
                proc.stdin.close()
            rc = proc.wait()
        except BrokenPipeError:
            rc = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if rc != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip().splitlines()
            raise EncodeError(f"encode: ffmpeg exited with {rc}: {' / '.join(message[-3:]) or 'no message'}")
    return done[0]
