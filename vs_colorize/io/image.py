"""Write a clip as still images: one PNG/TIFF/DPX/EXR, a multi-page TIFF, or an image sequence (``%d``).

Frames are converted to RGB (GRAY stays GRAY, except in 10/12-bit DPX) in VapourSynth from their
``_Matrix``/``_Range`` props at the output depth (:func:`image_depth`: the clip's own where the format
holds it), and each image is encoded whole (the caller renames it into place): PNG, integer TIFF and
DPX by PyAV's encoders, OpenEXR by PyAV's (half or float), float TIFF by tifffile. A multi-page TIFF is
streamed page by page through tifffile (deflate-compressed), one frame in memory at a time.

========  ==========================  ==============================================
format    depths (``--depth``)        default from the clip
========  ==========================  ==============================================
PNG       8, 16                       8 bit → 8, deeper or float → 16
TIFF      8, 16, float                8 bit → 8, deeper → 16, float → float
DPX       8, 10, 12, 16               its own depth (9 → 10, 14 → 16, float → 16)
OpenEXR   half, float                 half, float when the input was 32-bit float
========  ==========================  ==============================================
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np
import tifffile
import vapoursynth as vs

from ..color_props import MATRIX_KRB, default_matrix, fit_gamut
from .dpx import with_header

IMAGE_OUTPUTS: dict[str, str] = {
    ".png": "png", ".tif": "tiff", ".tiff": "tiff", ".dpx": "dpx", ".exr": "exr",
}  # fmt: skip
#: The depths each image format writes (see the module doc).
DEPTHS: dict[str, tuple[str, ...]] = {
    "png": ("8", "16"), "tiff": ("8", "16", "float"), "dpx": ("8", "10", "12", "16"), "exr": ("half", "float"),
}  # fmt: skip
#: Frame prop a reader sets on pictures stored as 16-bit float (EXR half): half stays half.
HALF_PROP = "SourceHalf"
#: Frame props carried into outputs: SMPTE timecode (``HH:MM:SS:FF``), reel/tape name, DPX transfer code.
TIMECODE_PROP, REEL_PROP, TRANSFER_PROP = "Timecode", "Reel", "DpxTransfer"
#: (codec, bits, gray) → (packed input format, encoder pixel format) of the PyAV-encoded integer images.
_PIX: dict[tuple[str, int, bool], tuple[str, str]] = {
    ("png", 8, False): ("rgb24", "rgb24"), ("png", 16, False): ("rgb48le", "rgb48be"),
    ("png", 8, True): ("gray", "gray"), ("png", 16, True): ("gray16le", "gray16be"),
    ("tiff", 8, False): ("rgb24", "rgb24"), ("tiff", 16, False): ("rgb48le", "rgb48le"),
    ("tiff", 8, True): ("gray", "gray"), ("tiff", 16, True): ("gray16le", "gray16le"),
    ("dpx", 8, False): ("rgb24", "rgb24"), ("dpx", 16, False): ("rgb48le", "rgb48le"),
    ("dpx", 8, True): ("gray", "gray"), ("dpx", 16, True): ("gray16le", "gray16le"),
}  # fmt: skip


def is_image_output(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` asks for still images (by extension)."""
    return Path(path).suffix.lower() in IMAGE_OUTPUTS


def image_depth(codec: str, fmt: vs.VideoFormat, *, half: bool = True, depth: str | None = None) -> str:
    """The depth an image of ``codec`` is written at: ``depth`` when given (ValueError when the format
    cannot hold it), else the clip format's own where the image format holds it (module doc table)."""
    allowed = DEPTHS[codec]
    if depth is not None:
        if depth not in allowed:
            raise ValueError(
                f"encode: depth {depth!r} is not one {codec.upper()} writes; use one of {allowed}"
            )
        return depth
    bits, is_float = fmt.bits_per_sample, fmt.sample_type == vs.FLOAT
    if codec == "exr":
        return "half" if half or not is_float or bits == 16 else "float"
    if is_float:
        return "float" if codec == "tiff" else "16"
    if codec == "dpx":
        return next(d for d in allowed if int(d) >= bits)
    return "8" if bits == 8 else "16"


def image_names(
    path: str | os.PathLike[str], first: int, count: int, numbers: Sequence[int] | None = None
) -> list[Path]:
    """The files a render of ``count`` frames writes: ``path`` itself for one frame without a pattern
    or for a TIFF (one page per frame), else ``path % n`` for frame numbers ``numbers`` (a sequence
    input's own numbers) or ``first … first+count-1`` (e.g. ``out_%06d.png``)."""
    p = Path(path)
    if "%" not in p.name:
        if count != 1 and IMAGE_OUTPUTS[p.suffix.lower()] != "tiff":
            raise ValueError(
                f"encode: {count} frames cannot go into one image {os.fspath(p)!r}; "
                "name an image sequence with a frame-number pattern such as out_%06d.png (or write a .tif)"
            )
        return [p]
    if numbers is not None and len(numbers) != count:
        raise ValueError(f"encode: {len(numbers)} frame numbers for {count} frames")
    nums = list(numbers) if numbers is not None else [first + i for i in range(count)]
    try:
        names = [p.with_name(p.name % n) for n in nums]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"encode: bad image-sequence pattern {p.name!r}: {exc}") from exc
    if count > 1 and names[0] == names[1]:
        raise ValueError(f"encode: image-sequence pattern {p.name!r} does not number the frames")
    return names


def to_image_clip(clip: vs.VideoNode, depth: str = "") -> vs.VideoNode:
    """RGB (GRAY for GRAY clips) at ``depth`` (``8``/``10``/``12``/``16``, ``half``/``float`` = 32-bit
    float; ``""`` = 8 for 8-bit clips, else 16) for writing images, converted from the clip's props.
    GRAY at 10/12 bits becomes RGB (DPX holds no 10/12-bit grey).

    A YUV clip whose ``_Matrix`` is missing or unspecified is read as BT.709 at ≥ 1280×720 and BT.601
    below (the usual convention for untagged video). Chroma that would leave the RGB gamut is scaled
    down per pixel (:func:`~vs_colorize.color_props.fit_gamut`), so the picture's luma is the clip's luma up
    to rounding instead of being clipped (BT.601/709/2020, FCC and 240M matrices).
    """
    core = vs.core
    depth = depth or ("8" if clip.format.bits_per_sample == 8 else "16")
    sample = (vs.FLOAT, 32) if depth in ("half", "float") else (vs.INTEGER, int(depth))
    if clip.format.color_family == vs.GRAY and depth not in ("10", "12"):
        fmt = core.query_video_format(vs.GRAY, *sample, 0, 0).id
        return clip if clip.format.id == fmt else core.resize.Point(clip, format=fmt)
    fmt = core.query_video_format(vs.RGB, *sample, 0, 0).id
    if clip.format.color_family == vs.YUV:
        matrix = int(clip.get_frame(0).props.get("_Matrix", 2))
        if matrix == 2:
            matrix = default_matrix(clip.width, clip.height)
            clip = core.std.SetFrameProps(clip, _Matrix=matrix)
        if matrix in MATRIX_KRB:
            clip = fit_gamut(core.resize.Bicubic(clip, format=vs.YUV444PS), matrix)
    if clip.format.id == fmt:
        return clip
    if clip.format.color_family == vs.GRAY:  # 10/12-bit grey → equal R, G, B
        clip = core.std.ShufflePlanes([clip] * 3, [0, 0, 0], vs.RGB)
        clip = core.std.SetFrameProps(clip, _Matrix=0)
    return core.resize.Bicubic(clip, format=fmt, dither_type="error_diffusion")


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


def _planar(frame: vs.VideoFrame, pix: str) -> av.VideoFrame:
    """A planar PyAV frame (gbrp10/12, gbrpf32, grayf32) holding ``frame``'s planes."""
    img = av.VideoFrame(frame.width, frame.height, pix)
    order = (2, 0, 1) if frame.format.num_planes == 3 else (0,)  # gbrp stores G, B, R
    dtype = np.float32 if "f32" in pix else np.uint16
    for p in range(frame.format.num_planes):
        plane = img.planes[order[p]]
        rows = np.frombuffer(plane, dtype).reshape(plane.height, -1)
        np.copyto(rows[:, : frame.width], np.asarray(frame[p]))
    return img


def encode_image(
    frame: vs.VideoFrame, codec: str, *, half: bool = False, rate: Fraction | None = None
) -> bytes:
    """One RGB/GRAY VS frame (from :func:`to_image_clip`) as PNG, TIFF, DPX or EXR file bytes.

    ``half``: a float frame goes into EXR as 16-bit half floats (else 32-bit floats). A DPX gets the
    frame's ``Timecode`` and ``DpxTransfer`` props and ``rate`` in its header (:mod:`.dpx`)."""
    gray = frame.format.color_family == vs.GRAY
    bits = frame.format.bits_per_sample
    if frame.format.sample_type == vs.FLOAT and codec == "tiff":
        buf = io.BytesIO()
        tifffile.imwrite(buf, _array(frame), photometric="minisblack" if gray else "rgb", metadata=None)
        return buf.getvalue()
    options: dict[str, str] = {}
    if frame.format.sample_type == vs.FLOAT:
        enc_fmt = "grayf32le" if gray else "gbrpf32le"
        img = _planar(frame, enc_fmt)
        options = {"format": "half" if half else "float"}
    elif bits in (10, 12):
        enc_fmt = f"gbrp{bits}le"
        img = _planar(frame, enc_fmt)
    else:
        packed, enc_fmt = _PIX[(codec, bits, gray)]
        img = av.VideoFrame.from_ndarray(np.ascontiguousarray(_array(frame)), format=packed)
        if packed != enc_fmt:
            img = img.reformat(format=enc_fmt)
    ctx = cast(av.VideoCodecContext, av.CodecContext.create(codec, "w"))  # png, tiff, dpx, exr: video codecs
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = frame.width, frame.height, enc_fmt, Fraction(1, 1)
    ctx.options = options
    img.pts = 0
    data = b"".join(bytes(p) for p in [*ctx.encode(img), *ctx.encode(None)])
    if codec != "dpx":
        return data
    tc, transfer = frame.props.get(TIMECODE_PROP), frame.props.get(TRANSFER_PROP)
    return with_header(
        data,
        timecode=str(tc) if tc is not None else None,
        rate=rate,
        transfer=int(transfer) if transfer is not None else None,
    )
