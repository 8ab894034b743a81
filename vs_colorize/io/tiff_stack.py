"""TIFF stacks (microscopy: plain multi-page, ImageJ hyperstacks, OME-TIFF) in and out of VapourSynth, streamed.

Reading keeps the file open and decodes a page when a frame needs it (``TiffFile.asarray(key=page)``); writing
hands ``tifffile.TiffWriter`` a generator of rendered frames, so neither side holds the whole stack. Stacks that
may pass 4 GiB are written as BigTIFF.

A stack's axes come from tifffile's series (``T`` time, ``Z`` depth, ``C`` channel, ``Y``/``X``; ``S`` for
samples inside a page, ``I``/``Q`` for plain page sequences). :func:`read_tiff_stack` gives one GRAY clip per
combination of the page axes other than the *window axis* — the one the 3-frame model looks along: ``T`` when
it has more than one entry, else ``Z``, else the plain page axis — so channels (and z planes of a time-lapse)
are processed separately. The pixel sizes (OME ``PhysicalSizeX/Y`` + units, or the ImageJ/TIFF resolution tags
+ ImageJ ``unit``) and the time increment (OME ``TimeIncrement`` + unit, ImageJ ``finterval``) are read into
:class:`StackInfo`; :func:`write_tiff_stack` writes the result in the input's flavour with the same axes and
sample type and the pixel sizes divided by the scale.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import vapoursynth as vs

from ..core import fileio
from .pyav_source import SourceError

TIFF_SUFFIXES = (".tif", ".tiff")
#: Classic TIFF addresses 4 GiB; leave room for the page directories.
BIGTIFF_ABOVE = (1 << 32) - (1 << 26)
_FORMATS = {np.uint8: vs.GRAY8, np.uint16: vs.GRAY16, np.float16: vs.GRAYH, np.float32: vs.GRAYS}
#: Axes the 3-frame window may run along, in order of preference (T: time, Z: depth, I/Q: plain pages).
WINDOW_AXES = "TZIQ"
Flavour = Literal["ome", "imagej", "plain"]


def is_tiff(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in TIFF_SUFFIXES


@dataclass(frozen=True, kw_only=True)
class StackInfo:
    """What a stack is made of, and the metadata that must survive processing.

    ``axes``/``shape``: the page axes followed by ``YX`` (a picked ``--channel`` removed). ``window_axis``: the
    axis the temporal window runs along (None: a single page per clip). ``pixel_size``: ``{"X": (size, unit),
    "Y": ...}`` (empty when unknown); ``time_increment``: ``(value, unit)`` or None; ``imagej``: ImageJ entries
    kept as they were (``spacing``, …); ``resolution_unit``: the TIFF ResolutionUnit of plain stacks.
    """

    flavour: Flavour
    axes: str
    shape: tuple[int, ...]
    dtype: np.dtype
    window_axis: str | None
    pixel_size: dict[str, tuple[float, str]] = field(default_factory=dict)
    time_increment: tuple[float, str] | None = None
    imagej: dict[str, Any] = field(default_factory=dict)
    resolution_unit: int = 1

    @property
    def groups(self) -> list[tuple[int, ...]]:
        """Indices over the page axes other than the window axis, in file order (one clip each)."""
        sizes = [n for a, n in zip(self.axes[:-2], self.shape[:-2], strict=True) if a != self.window_axis]
        return list(itertools.product(*(range(n) for n in sizes)))

    def scaled(self, scale: int) -> StackInfo:
        """The output's description: ``scale``× more pixels along Y and X, each ``scale``× smaller."""
        return dataclasses.replace(
            self,
            shape=(*self.shape[:-2], self.shape[-2] * scale, self.shape[-1] * scale),
            pixel_size={a: (v / scale, u) for a, (v, u) in self.pixel_size.items()},
        )


def _ome_pixels(tif: Any) -> dict[str, Any]:
    import tifffile

    image = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]
    pixels: dict[str, Any] = (image[0] if isinstance(image, list) else image)["Pixels"]
    return pixels


def _metadata(tif: Any, page: Any, flavour: Flavour) -> dict[str, Any]:
    """pixel_size, time_increment, imagej and resolution_unit of an open file (see :class:`StackInfo`)."""
    out: dict[str, Any] = {"pixel_size": {}, "time_increment": None, "imagej": {}, "resolution_unit": 1}
    if flavour == "ome":
        px = _ome_pixels(tif)
        for a in "XY":
            if f"PhysicalSize{a}" in px:
                out["pixel_size"][a] = (
                    float(px[f"PhysicalSize{a}"]),
                    str(px.get(f"PhysicalSize{a}Unit", "µm")),
                )
        if "TimeIncrement" in px:
            out["time_increment"] = (float(px["TimeIncrement"]), str(px.get("TimeIncrementUnit", "s")))
        return out
    tags = page.tags
    res = {a: tags.get(f"{a}Resolution") for a in "XY"}
    unit_tag = tags.get("ResolutionUnit")
    out["resolution_unit"] = int(unit_tag.value) if unit_tag is not None else 2
    if flavour == "imagej":
        meta = dict(tif.imagej_metadata or {})
        out["imagej"] = {k: meta[k] for k in ("spacing", "unit", "loop", "fps") if k in meta}
        if "finterval" in meta:
            out["time_increment"] = (float(meta["finterval"]), "s")
        unit = str(meta.get("unit", "pixel"))
    else:
        unit = {2: "inch", 3: "cm"}.get(out["resolution_unit"], "")
    for a, tag in res.items():
        num, den = tag.value if tag is not None else (1, 1)
        if unit and unit != "pixel" and num > 0 and (num, den) != (1, 1):
            out["pixel_size"][a] = (den / num, unit)  # pixels per unit → unit per pixel
    return out


@dataclass
class TiffStack:
    """An open stack: ``clips[g]`` is the GRAY clip of group ``info.groups[g]`` along the window axis."""

    info: StackInfo
    clips: list[vs.VideoNode]
    close: Callable[[], None]


def read_tiff_stack(path: str | os.PathLike[str], channel: int | None = None) -> TiffStack:
    """Open a TIFF stack lazily: one GRAY clip per channel (and per non-window axis entry), pages on request.

    uint8/uint16/float16/float32 samples (float64 is read as float32). ``channel`` picks one entry of the
    sample axis ``S`` (required for RGB pages) or of the ``C`` axis (default: every channel, separately).
    Raises :class:`SourceError` for an unreadable file, a colour stack without a valid ``channel``, an
    unsupported sample type or an axis order where the window axis is not the outermost one.
    """
    import tifffile

    name = os.fspath(path)
    try:
        tif = tifffile.TiffFile(name)
        series = tif.series[0]
        axes, shape, dtype = series.axes, tuple(series.shape), np.dtype(series.dtype)
        page = series.keyframe
        flavour: Flavour = "ome" if tif.is_ome else "imagej" if tif.is_imagej else "plain"
        meta = _metadata(tif, page, flavour)
    except (OSError, ValueError, IndexError, KeyError, tifffile.TiffFileError) as exc:
        raise SourceError(f"cannot read TIFF {name!r}: {exc}") from exc

    def fail(message: str) -> SourceError:
        tif.close()
        return SourceError(message)

    in_page = "YXS" if "S" in axes else "YX"
    if not axes.endswith(in_page) and not (axes.endswith("SYX") and "S" in axes):
        raise fail(f"{name!r} has axes {axes!r}; expected pages of Y, X (and samples S)")
    page_axes = axes.replace("S", "")[:-2]
    page_shape = tuple(n for a, n in zip(axes, shape, strict=True) if a in page_axes)
    pick_s = pick_c = None
    if "S" in axes:
        n = shape[axes.index("S")]
        if channel is None:
            raise fail(f"{name!r} has {n} channels; pick one with --channel")
        if not 0 <= channel < n:
            raise fail(f"--channel must be in 0..{n - 1}, got {channel}")
        pick_s = channel
    elif channel is not None:
        if "C" not in page_axes:
            raise fail(f"--channel: {name!r} has a single channel (axes {axes!r})")
        n = page_shape[page_axes.index("C")]
        if not 0 <= channel < n:
            raise fail(f"--channel must be in 0..{n - 1}, got {channel}")
        pick_c = channel
    if dtype == np.float64:
        dtype = np.dtype(np.float32)
    fmt = _FORMATS.get(dtype.type)
    if fmt is None:
        raise fail(f"{name!r} has samples of type {dtype}; need uint8, uint16 or float")
    kept = [a for a in page_axes if not (a == "C" and pick_c is not None)]
    sizes = {a: page_shape[page_axes.index(a)] for a in kept}
    window_axis = next((a for a in WINDOW_AXES if sizes.get(a, 0) > 1), None)
    if window_axis is not None and any(sizes[a] > 1 for a in kept[: kept.index(window_axis)]):
        raise fail(
            f"{name!r} has axes {axes!r}: the {window_axis} axis must be the outermost one of size > 1"
        )
    height, width = (shape[axes.index(a)] for a in "YX")
    info = StackInfo(
        flavour=flavour,
        axes="".join(kept) + "YX",
        shape=(*(sizes[a] for a in kept), height, width),
        dtype=dtype,
        window_axis=window_axis,
        **meta,
    )
    lock = threading.Lock()  # one file handle shared by every clip's reads

    def clip_for(group: tuple[int, ...]) -> vs.VideoNode:
        rest = iter(group)
        fixed = {a: (pick_c if a == "C" and pick_c is not None else None) for a in page_axes}
        for a in kept:
            if a != window_axis:
                fixed[a] = next(rest)
        length = sizes[window_axis] if window_axis else 1
        blank = vs.core.std.BlankClip(format=fmt, width=width, height=height, length=length, keep=True)

        def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
            index = tuple(n if a == window_axis else (fixed[a] or 0) for a in page_axes)
            key = int(np.ravel_multi_index(index, page_shape)) if page_axes else 0
            with lock:
                data = tif.asarray(key=key, series=0)
            if pick_s is not None:
                data = np.take(data, pick_s, axis=-1 if axes.endswith("S") else 0)
            out = f.copy()
            np.copyto(np.asarray(out[0]), data, casting="same_kind")
            return out

        return blank.std.ModifyFrame(blank, fill)

    return TiffStack(info=info, clips=[clip_for(g) for g in info.groups], close=tif.close)


def interleave(clips: list[vs.VideoNode]) -> vs.VideoNode:
    """The groups' clips in file page order (window axis outermost): frame ``k·G + g`` = ``clips[g][k]``."""
    return clips[0] if len(clips) == 1 else vs.core.std.Interleave(clips)


def _writer_args(info: StackInfo) -> tuple[dict[str, Any], dict[str, Any]]:
    """(TiffWriter kwargs, write kwargs) carrying ``info``'s axes and metadata in its flavour."""
    if info.flavour == "ome":
        meta: dict[str, Any] = {"axes": info.axes}
        for a, (size, unit) in info.pixel_size.items():
            meta[f"PhysicalSize{a}"], meta[f"PhysicalSize{a}Unit"] = size, unit
        if info.time_increment is not None:
            meta["TimeIncrement"], meta["TimeIncrementUnit"] = info.time_increment
        return {"ome": True}, {"metadata": meta}
    res: dict[str, Any] = {}
    if "X" in info.pixel_size and "Y" in info.pixel_size:
        res["resolution"] = (1.0 / info.pixel_size["X"][0], 1.0 / info.pixel_size["Y"][0])
    if info.flavour == "imagej":
        meta = {"axes": info.axes, **info.imagej}
        if info.time_increment is not None:
            meta["finterval"] = info.time_increment[0]
        return {"imagej": True}, {"metadata": meta, **res}
    if res:
        res["resolutionunit"] = info.resolution_unit
    return {}, {"metadata": {"axes": info.axes}, **res}


def write_tiff_stack(
    clip: vs.VideoNode,
    info: StackInfo,
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Render ``clip`` (pages in file order, :func:`interleave`) into one TIFF described by ``info``, atomically.

    ``info`` is the output's description (:meth:`StackInfo.scaled`): its flavour (OME, ImageJ or plain),
    axes, sample type and metadata are written. Frames stream from VapourSynth into the writer one at a time
    (BigTIFF when the stack may pass 4 GiB; ImageJ files stay classic TIFF, as ImageJ reads them). Returns the
    number of frames written.
    """
    import tifffile

    if int(np.prod(info.shape[:-2], dtype=np.int64)) != clip.num_frames or info.shape[-2:] != (
        clip.height,
        clip.width,
    ):
        raise ValueError(
            f"write_tiff_stack: clip {clip.num_frames}x{clip.height}x{clip.width} does not fit {info}"
        )
    dtype = info.dtype
    big = int(np.prod(info.shape, dtype=np.int64)) * dtype.itemsize > BIGTIFF_ABOVE
    opened, written_args = _writer_args(info)
    written = 0

    def frames() -> Iterator[np.ndarray]:
        nonlocal written
        for frame in clip.frames(close=True):
            yield np.array(frame[0], dtype=dtype)  # a copy: the writer may buffer pages past the frame's life
            written += 1
            if progress is not None:
                progress(written)

    bigtiff = big and info.flavour != "imagej"
    with (
        fileio.atomic_output(out, overwrite=overwrite) as tmp,
        tifffile.TiffWriter(tmp, bigtiff=bigtiff, **opened) as tw,
    ):
        tw.write(frames(), shape=info.shape, dtype=dtype, photometric="minisblack", **written_args)
    return written
