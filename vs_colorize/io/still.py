"""Still images, multi-page TIFFs and image sequences as clips that say their range and sample type.

* one image (PNG, JPEG, BMP, WebP, TIFF) → one frame; a multi-page TIFF → one frame per page;
* a sequence → one frame per file, named by a frame-number pattern (``scan_%06d.dpx``), a glob
  (``frames/*.tif``) or a folder (every image in it): numbered files in a row from the lowest number
  found, whatever it is (a gap is a missing frame: an error naming it unless allowed). Each frame
  carries its file's number as the ``SeqFrameNumber`` prop, so outputs can be numbered like the input.

DPX (8/10/12/16-bit) and OpenEXR (half or float, any compression FFmpeg reads) are decoded by FFmpeg
through PyAV, one file per request: no plugin beyond what the film reader needs, random access, and
the same gap and size checks as every other sequence.

Every frame carries an explicit ``_Range``: grey and RGB pictures are full range, JPEG's YCbCr is full
range BT.601, other YUV (WebP) is what the decoder says (limited when it says nothing). Integer
pictures keep their depth (8/16 bit); float TIFFs (16/32/64-bit IEEE) become 32-bit float clips (float16
→ float32 is exact). Alpha is dropped with a warning. TIFF pages are decoded by tifffile; a page
compressed with a codec it lacks here (LZW, JPEG without the imagecodecs package) is decoded by FFmpeg
when it is the first page (FFmpeg reads no other page).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import tifffile
import vapoursynth as vs

from . import dpx
from .formats import JPEG_FORMATS, vs_format_of
from .image import HALF_PROP, TIMECODE_PROP, TRANSFER_PROP
from .pyav_source import DAMAGED, SourceError, _target_pix_fmt

log = logging.getLogger(__name__)

TIFF_EXTENSIONS: frozenset[str] = frozenset({".tif", ".tiff"})
#: Still-image files by extension (single pictures, sequence members, files found in a folder).
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".dpx", ".exr"}
)
#: Frame prop holding a sequence frame's own file number.
SEQ_FRAME_PROP = "SeqFrameNumber"
#: Frame rate given to sequences and multi-page TIFFs without one in their header (FFmpeg's image2 default).
STILL_FPS = 25
_PATTERN = re.compile(r"%(0?)(\d*)d")
_GLOB = re.compile(r"[*?\[]")
_LAST_NUMBER = re.compile(r"^(.*?)(\d+)(\D*)$")


@dataclass(frozen=True, kw_only=True)
class Picture:
    """One decoded picture in a VapourSynth-ready layout."""

    planes: tuple[np.ndarray, ...]  # VS plane order, 2-D each
    format: tuple[int, int, int, int, int]  # (color_family, sample_type, bits, ssw, ssh)
    props: dict[str, int | str]
    alpha: bool = False


def is_pattern(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names an image sequence by a ``%d``-style frame-number pattern."""
    return _PATTERN.search(Path(path).name) is not None


def is_sequence(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names an image sequence: a folder, or (when no such file exists) a ``%d``
    pattern or a glob (``*``, ``?``, ``[``) in its last part."""
    p = Path(path)
    if p.is_dir():
        return True
    return not p.exists() and (is_pattern(p) or _GLOB.search(p.name) is not None)


def sequence_files(pattern: str | os.PathLike[str], *, func: str = "still_source") -> dict[int, Path]:
    """The files of a sequence (``%d`` pattern, glob or folder) by frame number, lowest first.

    FileNotFoundError when nothing matches; SourceError for a pattern with no single number field, or
    for a glob or folder whose files are not one numbered series (two names, or one number twice).
    """
    p = Path(pattern)
    if p.is_dir() or not is_pattern(p):
        return _numbered(p, func)
    parts = _PATTERN.split(p.name)
    if len(parts) != 4:
        raise SourceError(f"{func}: pattern {p.name!r} must hold exactly one frame-number field such as %04d")
    head, zero, width, tail = parts
    digits = rf"\d{{{int(width)},}}" if zero and width else r"\d+"
    rx = re.compile(re.escape(head) + f"({digits})" + re.escape(tail))
    folder = p.parent
    found: dict[int, Path] = {}
    if folder.is_dir():
        for entry in folder.iterdir():
            m = rx.fullmatch(entry.name)
            if m and entry.is_file():
                found[int(m.group(1))] = entry
    if not found:
        raise FileNotFoundError(f"{func}: no file matches the sequence pattern {os.fspath(p)!r}")
    return dict(sorted(found.items()))


def _numbered(p: Path, func: str) -> dict[int, Path]:
    """The files of a glob or a folder (its visible images), numbered by the last digits in their names."""
    if p.is_dir():
        entries = [e for e in p.iterdir() if e.suffix.lower() in IMAGE_EXTENSIONS]
    else:
        entries = list(p.parent.glob(p.name)) if p.parent.is_dir() else []
    entries = sorted(e for e in entries if e.is_file() and not e.name.startswith("."))
    if not entries:
        raise FileNotFoundError(f"{func}: no image file matches {os.fspath(p)!r}")
    series: dict[tuple[str, str], dict[int, Path]] = {}
    for e in entries:
        m = _LAST_NUMBER.match(e.name)
        if m is None:
            raise SourceError(f"{func}: {os.fspath(e)!r} in sequence {os.fspath(p)!r} has no frame number")
        numbers = series.setdefault((m.group(1), m.group(3)), {})
        n = int(m.group(2))
        if n in numbers:
            raise SourceError(
                f"{func}: {numbers[n].name!r} and {e.name!r} both hold frame {n} of {os.fspath(p)!r}"
            )
        numbers[n] = e
    if len(series) > 1:
        names = ", ".join(f"{h}#{t}" for h, t in sorted(series))
        raise SourceError(
            f"{func}: {os.fspath(p)!r} holds more than one numbered series ({names});"
            " name one with a pattern such as scan_%06d.dpx"
        )
    return dict(sorted(next(iter(series.values())).items()))


def _av_props(frame: av.VideoFrame, family: int) -> dict[str, int | str]:
    """Range and colour tags of a decoded still: grey/RGB full, JPEG full BT.601, other YUV as tagged."""
    props: dict[str, int | str] = {"_FieldBased": 0}
    tagged = {1: 0, 2: 1}.get(int(frame.color_range))
    if family in (vs.GRAY, vs.RGB) or frame.format.name in JPEG_FORMATS:
        props["_Range"] = 1
    else:
        props["_Range"] = tagged if tagged is not None else 0
    if family == vs.RGB:
        props["_Matrix"] = 0
    elif family == vs.YUV:
        props["_Matrix"] = int(frame.colorspace) if int(frame.colorspace) not in (0, 2) else 6
    for key, value in (("_Primaries", frame.color_primaries), ("_Transfer", frame.color_trc)):
        if int(value) not in (0, 2):
            props[key] = int(value)
    return props


def read_av(path: Path) -> Picture:
    """Decode a still (the first page of a TIFF) with FFmpeg."""
    try:
        with av.open(os.fspath(path)) as container:
            stream = container.streams.video[0]
            frame = next(container.decode(stream), None)
    except (av.FFmpegError, OSError, IndexError, UnicodeDecodeError) as exc:
        raise SourceError(f"still_source: cannot decode {os.fspath(path)!r} ({DAMAGED}): {exc}") from exc
    if frame is None:
        raise SourceError(f"still_source: {os.fspath(path)!r} holds no picture")
    pix = _target_pix_fmt(frame.format)
    fmt = vs_format_of(pix)
    assert fmt is not None
    family, sample_type, bits = fmt[:3]
    alpha = any(c.is_alpha for c in frame.format.components)
    props = _av_props(frame, family)
    if "f16" in frame.format.name:
        props[HALF_PROP] = 1  # EXR half: written back as half
    if path.suffix.lower() == ".dpx":
        props.update(_dpx_props(path))
    if frame.format.name != pix:
        frame = frame.reformat(format=pix)
    dtype = np.float32 if sample_type == vs.FLOAT else np.uint8 if bits == 8 else np.uint16
    order = (2, 0, 1) if family == vs.RGB else (0, 1, 2)  # gbrp stores G, B, R
    planes = []
    for p in range(1 if family == vs.GRAY else 3):
        plane = frame.planes[order[p]]
        w = frame.width >> (fmt[3] if p else 0)
        h = frame.height >> (fmt[4] if p else 0)
        rows = np.frombuffer(plane, dtype).reshape(plane.height, -1)
        planes.append(rows[:h, :w].copy())
    return Picture(planes=tuple(planes), format=fmt, props=props, alpha=alpha)


#: DPX transfer codes with an H.273 counterpart (``_Transfer``): linear, BT.709.
_DPX_H273 = {2: 8, 6: 1}


def _dpx_props(path: Path) -> dict[str, int | str]:
    """Timecode and transfer characteristic from a DPX header (``Timecode``, ``DpxTransfer``, ``_Transfer``)."""
    try:
        head = dpx.read_header(path)
    except (ValueError, OSError, IndexError):
        return {}
    props: dict[str, int | str] = {}
    if head.timecode is not None:
        props[TIMECODE_PROP] = head.timecode
    if head.transfer is not None:
        props[TRANSFER_PROP] = head.transfer
        if head.transfer in _DPX_H273:
            props["_Transfer"] = _DPX_H273[head.transfer]
    return props


def sequence_rate(path: Path) -> Fraction:
    """The frame rate a picture's header states (DPX), else :data:`STILL_FPS`."""
    if path.suffix.lower() == ".dpx":
        try:
            rate = dpx.read_header(path).frame_rate
        except (ValueError, OSError, IndexError):
            rate = None
        if rate is not None:
            return rate
    return Fraction(STILL_FPS)


def read_tiff(path: Path, page: int) -> Picture:
    """A TIFF page through tifffile: grey (min-is-black/-white), RGB or palette; 8/16-bit or float.

    Float samples (any IEEE width) become 32-bit float. Raises KeyError when tifffile lacks the page's
    compression codec (LZW, JPEG, … need the imagecodecs package), SourceError for what no clip holds.
    """
    name = os.fspath(path)
    try:
        with tifffile.TiffFile(path) as tif:
            tp = tif.pages[page]
            assert isinstance(tp, tifffile.TiffPage)
            if tp.compression != tifffile.COMPRESSION.NONE:
                tifffile.TIFF.DECOMPRESSORS[tp.compression]  # KeyError: no codec for it here
            arr = tp.asarray()
            photometric, colormap = tp.photometric, tp.colormap
            separate = tp.planarconfig == tifffile.PLANARCONFIG.SEPARATE and arr.ndim == 3
    except (ValueError, OSError, tifffile.TiffFileError) as exc:
        raise SourceError(f"still_source: cannot decode page {page} of {name!r}: {exc}") from exc
    if separate:
        arr = np.moveaxis(arr, 0, -1)
    PM = tifffile.PHOTOMETRIC
    if photometric == PM.PALETTE and colormap is not None:
        arr = np.moveaxis(colormap[:, arr], 0, -1)  # 16-bit RGB
        photometric = PM.RGB
    if arr.dtype.kind == "f":
        arr, fmt = arr.astype(np.float32), (vs.FLOAT, 32)
    elif arr.dtype in (np.uint8, np.uint16):
        fmt = (vs.INTEGER, arr.dtype.itemsize * 8)
    elif arr.dtype == np.bool_:
        arr, fmt = arr.astype(np.uint8) * 255, (vs.INTEGER, 8)
    else:
        raise SourceError(
            f"still_source: page {page} of {name!r} holds {arr.dtype} samples; use 8/16-bit or float"
        )
    samples = arr.shape[2] if arr.ndim == 3 else 1
    if photometric == PM.RGB and samples >= 3:
        planes, family, alpha = (
            tuple(np.ascontiguousarray(arr[:, :, c]) for c in range(3)),
            vs.RGB,
            samples > 3,
        )
    elif photometric in (PM.MINISBLACK, PM.MINISWHITE):
        grey = arr if arr.ndim == 2 else arr[:, :, 0]
        if photometric == PM.MINISWHITE:
            grey = (1.0 if fmt[0] == vs.FLOAT else np.iinfo(grey.dtype).max) - grey
        planes, family, alpha = (np.ascontiguousarray(grey),), vs.GRAY, samples > 1
    else:
        raise SourceError(f"still_source: page {page} of {name!r} is {PM(photometric).name}; use grey or RGB")
    if fmt[0] == vs.FLOAT:
        lo, hi = float(min(p.min() for p in planes)), float(max(p.max() for p in planes))
        if lo < 0.0 or hi > 1.0:
            log.warning(
                "still_source: %s holds float samples in %.4g..%.4g; outside 0..1 is clipped", name, lo, hi
            )
    props: dict[str, int | str] = {"_FieldBased": 0, "_Range": 1}
    if family == vs.RGB:
        props["_Matrix"] = 0
    return Picture(planes=planes, format=(family, *fmt, 0, 0), props=props, alpha=alpha)


@dataclass(frozen=True)
class _Page:
    path: Path
    page: int | None  # TIFF page index, None for other images
    number: int | None = None  # the file's frame number in a sequence

    def read(self) -> Picture:
        if self.page is None:
            return read_av(self.path)
        try:
            return read_tiff(self.path, self.page)
        except KeyError as exc:  # a compression tifffile cannot decode here: FFmpeg reads the first page
            if self.page == 0:
                return read_av(self.path)
            raise SourceError(
                f"still_source: page {self.page} of {os.fspath(self.path)!r} is compressed with a codec"
                f" tifffile cannot decode here ({exc}); install the imagecodecs package"
            ) from exc


def _tiff_pages(path: Path) -> list[_Page]:
    """Every full-resolution page of a TIFF (reduced-resolution previews are left out)."""
    try:
        with tifffile.TiffFile(path) as tif:
            pages = []
            for i, tp in enumerate(tif.pages):
                assert isinstance(tp, tifffile.TiffPage)
                if not tp.is_reduced:
                    pages.append(_Page(path, i))
    except (tifffile.TiffFileError, ValueError, OSError) as exc:
        raise SourceError(f"still_source: cannot read {os.fspath(path)!r} as TIFF: {exc}") from exc
    if not pages:
        raise SourceError(f"still_source: {os.fspath(path)!r} holds no full-resolution page")
    return pages


def _pages_of(path: Path) -> list[_Page]:
    if path.suffix.lower() in TIFF_EXTENSIONS:
        return _tiff_pages(path)
    return [_Page(path, None)]


def still_pages(
    path: str | os.PathLike[str], *, allow_damaged: bool = False
) -> tuple[list[_Page], list[int]]:
    """The pages a still input holds, and the missing frame numbers of a sequence (allowed when asked)."""
    p = Path(path)
    if not is_sequence(p):
        if not p.is_file():
            raise FileNotFoundError(f"still_source: input {os.fspath(p)!r} does not exist")
        return _pages_of(p), []
    files = sequence_files(p)
    numbers = list(files)
    missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
    if missing and not allow_damaged:
        raise SourceError(
            f"still_source: sequence {os.fspath(p)!r} misses frame numbers {_ranges(missing)}"
            " (pass --allow-damaged / allow_damaged=True to render the files that exist)"
        )
    pages = []
    for n, f in files.items():
        if f.suffix.lower() in TIFF_EXTENSIONS:
            got = _tiff_pages(f)
            if len(got) > 1:
                raise SourceError(f"still_source: {os.fspath(f)!r} in a sequence has {len(got)} pages")
            pages.append(_Page(f, got[0].page, n))
        else:
            pages.append(_Page(f, None, n))
    return pages, missing


def sequence_numbers(path: str | os.PathLike[str]) -> list[int] | None:
    """The file numbers of a sequence input's frames in order (gaps allowed), None for other inputs."""
    if not is_sequence(path):
        return None
    return [int(page.number or 0) for page in still_pages(path, allow_damaged=True)[0]]


def _ranges(numbers: list[int]) -> str:
    """``[3, 4, 5, 9]`` → ``"3-5, 9"``."""
    out: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(out)


def still_source(
    path: str | os.PathLike[str], *, core: vs.Core | None = None, allow_damaged: bool = False
) -> vs.VideoNode:
    """Open a still image, a multi-page TIFF or an image sequence as a clip (see the module doc).

    Pictures are decoded when their frame is requested; every one must match the first in size and
    format (SourceError at request otherwise). A sequence with missing numbers raises SourceError unless
    ``allow_damaged`` (then the files that exist follow each other and the gap is logged).
    """
    core = core or vs.core
    pages, missing = still_pages(path, allow_damaged=allow_damaged)
    if missing:
        log.warning(
            "still_source: %s misses frame numbers %s; rendering without them", path, _ranges(missing)
        )
    first = pages[0].read()
    height, width = first.planes[0].shape
    fmt = core.query_video_format(*first.format)
    if first.alpha:
        log.warning("still_source: %s has an alpha channel; it is dropped (the output is opaque)", path)
    rate = sequence_rate(pages[0].path)
    blank = core.std.BlankClip(
        format=fmt.id,
        width=width,
        height=height,
        length=len(pages),
        fpsnum=rate.numerator,
        fpsden=rate.denominator,
        keep=True,
    )
    cache: dict[int, Picture] = {0: first}
    lock = threading.Lock()

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        with lock:
            pic = cache[n] if n in cache else pages[n].read()
        if pic.format != first.format or pic.planes[0].shape != (height, width):
            raise SourceError(
                f"still_source: {os.fspath(pages[n].path)!r} (frame {n}) differs in size or format from the"
                " first picture; every picture of one input must match"
            )
        out = f.copy()
        for p, plane in enumerate(pic.planes):
            np.copyto(np.asarray(out[p]), plane)
        out.props.update(pic.props)
        if pages[n].number is not None:
            out.props[SEQ_FRAME_PROP] = pages[n].number
        return out

    log.debug("still_source: %s, %d pictures, %s", path, len(pages), fmt.name)
    return core.std.ModifyFrame(blank, blank, fill)
