"""Write a clip as still images: one PNG/TIFF, a multi-page TIFF, or an image sequence (``%d`` pattern).

Frames are converted to RGB (GRAY stays GRAY) in VapourSynth from their ``_Matrix``/``_Range`` props,
8 bits stay 8 bits and deeper clips become 16 bits, and each image is encoded by PyAV's PNG or TIFF
encoder and written whole (the caller renames it into place). A multi-page TIFF is streamed page by
page through tifffile (deflate-compressed), one frame in memory at a time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np
import tifffile
import vapoursynth as vs

from ..color_props import MATRIX_KRB, default_matrix, fit_gamut

IMAGE_OUTPUTS: dict[str, str] = {".png": "png", ".tif": "tiff", ".tiff": "tiff"}
#: (codec, 16-bit?) → (packed input format, encoder pixel format), RGB and GRAY.
_PIX: dict[tuple[str, bool, bool], tuple[str, str]] = {
    ("png", False, False): ("rgb24", "rgb24"), ("png", True, False): ("rgb48le", "rgb48be"),
    ("png", False, True): ("gray", "gray"), ("png", True, True): ("gray16le", "gray16be"),
    ("tiff", False, False): ("rgb24", "rgb24"), ("tiff", True, False): ("rgb48le", "rgb48le"),
    ("tiff", False, True): ("gray", "gray"), ("tiff", True, True): ("gray16le", "gray16le"),
}  # fmt: skip


def is_image_output(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` asks for still images (by extension)."""
    return Path(path).suffix.lower() in IMAGE_OUTPUTS


def image_names(path: str | os.PathLike[str], first: int, count: int) -> list[Path]:
    """The files a render of ``count`` frames writes: ``path`` itself for one frame without a pattern
    or for a TIFF (one page per frame), else ``path % n`` for frame numbers ``first … first+count-1``
    (e.g. ``out_%06d.png``)."""
    p = Path(path)
    if "%" not in p.name:
        if count != 1 and IMAGE_OUTPUTS[p.suffix.lower()] != "tiff":
            raise ValueError(
                f"encode: {count} frames cannot go into one image {os.fspath(p)!r}; "
                "name an image sequence with a frame-number pattern such as out_%06d.png (or write a .tif)"
            )
        return [p]
    try:
        names = [p.with_name(p.name % (first + i)) for i in range(count)]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"encode: bad image-sequence pattern {p.name!r}: {exc}") from exc
    if count > 1 and names[0] == names[1]:
        raise ValueError(f"encode: image-sequence pattern {p.name!r} does not number the frames")
    return names


def to_image_clip(clip: vs.VideoNode) -> vs.VideoNode:
    """RGB24/RGB48 (GRAY8/GRAY16 for GRAY clips) for writing images, converted from the clip's props.

    A YUV clip whose ``_Matrix`` is missing or unspecified is read as BT.709 at ≥ 1280×720 and BT.601
    below (the usual convention for untagged video). Chroma that would leave the RGB gamut is scaled
    down per pixel (:func:`~vs_colorize.color_props.fit_gamut`), so the picture's luma is the clip's luma up
    to rounding instead of being clipped (BT.601/709/2020, FCC and 240M matrices).
    """
    core = vs.core
    deep = clip.format.bits_per_sample > 8
    if clip.format.color_family == vs.GRAY:
        fmt = vs.GRAY16 if deep else vs.GRAY8
        return clip if clip.format.id == fmt else core.resize.Point(clip, format=fmt)
    fmt = vs.RGB48 if deep else vs.RGB24
    if clip.format.color_family == vs.YUV:
        matrix = int(clip.get_frame(0).props.get("_Matrix", 2))
        if matrix == 2:
            matrix = default_matrix(clip.width, clip.height)
            clip = core.std.SetFrameProps(clip, _Matrix=matrix)
        if matrix in MATRIX_KRB:
            clip = fit_gamut(core.resize.Bicubic(clip, format=vs.YUV444PS), matrix)
    return (
        clip
        if clip.format.id == fmt
        else core.resize.Bicubic(clip, format=fmt, dither_type="error_diffusion")
    )


def _array(frame: vs.VideoFrame) -> np.ndarray:
    """An RGB/GRAY VS frame as one HxW or HxWx3 array."""
    planes = [np.asarray(frame[p]) for p in range(frame.format.num_planes)]
    return planes[0] if len(planes) == 1 else np.dstack(planes)


def write_tiff_pages(
    frames: Iterable[vs.VideoFrame], path: str | os.PathLike[str], progress: Callable[[int], None] | None
) -> int:
    """Write RGB/GRAY frames (from :func:`to_image_clip`) as the pages of one TIFF; return the count."""
    written = 0
    with tifffile.TiffWriter(path) as tif:
        for frame in frames:
            gray = frame.format.color_family == vs.GRAY
            tif.write(
                _array(frame),
                photometric="minisblack" if gray else "rgb",
                compression="zlib",
                metadata=None,
            )
            written += 1
            if progress is not None:
                progress(written)
    return written


def encode_image(frame: vs.VideoFrame, codec: str) -> bytes:
    """One RGB/GRAY VS frame (from :func:`to_image_clip`) as PNG or TIFF file bytes."""
    gray = frame.format.color_family == vs.GRAY
    deep = frame.format.bits_per_sample > 8
    packed, enc_fmt = _PIX[(codec, deep, gray)]
    arr = _array(frame)
    img = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format=packed)
    if packed != enc_fmt:
        img = img.reformat(format=enc_fmt)
    ctx = cast(av.VideoCodecContext, av.CodecContext.create(codec, "w"))  # png / tiff: video codecs
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = frame.width, frame.height, enc_fmt, Fraction(1, 1)
    img.pts = 0
    return b"".join(bytes(p) for p in [*ctx.encode(img), *ctx.encode(None)])
