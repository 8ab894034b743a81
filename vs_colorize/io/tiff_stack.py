"""Multi-page TIFF stacks (microscopy) in and out of VapourSynth, one frame in memory at a time.

Reading keeps the file open and decodes page ``n`` when frame ``n`` is requested
(``TiffFile.asarray(key=n)``); writing hands ``tifffile.TiffWriter`` a generator of rendered frames, so
neither side ever holds the whole stack. Stacks that may pass 4 GiB are written as BigTIFF.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import vapoursynth as vs

from ..core import fileio
from .pyav_source import SourceError

TIFF_SUFFIXES = (".tif", ".tiff")
#: Classic TIFF addresses 4 GiB; leave room for the page directories.
BIGTIFF_ABOVE = (1 << 32) - (1 << 26)
_FORMATS = {np.uint8: vs.GRAY8, np.uint16: vs.GRAY16, np.float16: vs.GRAYH, np.float32: vs.GRAYS}


def is_tiff(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in TIFF_SUFFIXES


def open_tiff_stack(
    path: str | os.PathLike[str], channel: int | None = None
) -> tuple[vs.VideoNode, np.dtype]:
    """A GRAY clip with one frame per page of the stack's first series, and the stack's sample type.

    uint8/uint16/float16/float32 samples (float64 is read as float32). Colour stacks need ``channel``.
    Pages are decoded on request. Raises :class:`SourceError` for an unreadable file, a colour stack
    without a valid ``channel`` or an unsupported sample type.
    """
    import tifffile

    name = os.fspath(path)
    try:
        tif = tifffile.TiffFile(name)
        series = tif.series[0]
        count, page = len(series.pages), series.keyframe
        axes, shape, dtype = page.axes, page.shape, np.dtype(series.dtype)
    except (OSError, ValueError, IndexError, tifffile.TiffFileError) as exc:
        raise SourceError(f"cannot read TIFF {name!r}: {exc}") from exc
    colour = "S" in axes  # samples (RGB…) per pixel, interleaved (YXS) or planar (SYX)
    if colour:
        channels = shape[axes.index("S")]
        if channel is None:
            tif.close()
            raise SourceError(f"{name!r} has {channels} channels; pick one with --channel")
        if not 0 <= channel < channels:
            tif.close()
            raise SourceError(f"--channel must be in 0..{channels - 1}, got {channel}")
    pick = channel if colour else None
    if dtype == np.float64:
        dtype = np.dtype(np.float32)
    fmt = _FORMATS.get(dtype.type)
    if fmt is None:
        tif.close()
        raise SourceError(f"{name!r} has samples of type {dtype}; need uint8, uint16 or float")
    height, width = (shape[i] for i in range(len(shape)) if axes[i] in "YX")
    blank = vs.core.std.BlankClip(format=fmt, width=width, height=height, length=count, keep=True)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:  # ModifyFrame callbacks never run concurrently
        data = tif.asarray(key=n, series=0)
        if pick is not None:
            data = np.take(data, pick, axis=axes.index("S"))
        out = f.copy()
        np.copyto(np.asarray(out[0]), data, casting="same_kind")
        return out

    return blank.std.ModifyFrame(blank, fill), dtype


def write_tiff_stack(
    clip: vs.VideoNode,
    dtype: np.dtype,
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Render a GRAY ``clip`` into one multi-page TIFF of ``dtype`` samples, atomically; return frames written.

    Frames stream from VapourSynth into the writer one at a time (BigTIFF when the stack may pass 4 GiB).
    """
    import tifffile

    shape = (clip.num_frames, clip.height, clip.width)
    big = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize > BIGTIFF_ABOVE
    written = 0

    def frames() -> Iterator[np.ndarray]:
        nonlocal written
        for frame in clip.frames(close=True):
            yield np.array(frame[0], dtype=dtype)  # a copy: the writer may buffer pages past the frame's life
            written += 1
            if progress is not None:
                progress(written)

    with fileio.atomic_output(out, overwrite=overwrite) as tmp, tifffile.TiffWriter(tmp, bigtiff=big) as tw:
        tw.write(frames(), shape=shape, dtype=dtype, photometric="minisblack")
    return written
