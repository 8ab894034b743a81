"""Motion estimation and compensation with VapourSynth's MVTools plugin (``core.mv``).

Vectors are always searched on luma only (``Analyse(chroma=False)``); ``Compensate`` then moves every
plane of another clip of the same format along them. MVTools takes integer 8–16 bit only, so callers
bring their clips to 16 bit first (:func:`to16`).

Per-block rejection is MVTools' own: a block whose luma SAD (normalised by MVTools to an 8×8 block at
8 bit) exceeds ``thsad`` is not moved but taken from the current frame, and a frame pair that MVTools
judges a scene change would not be moved at all, but that check is switched off here (``THSCD1``): the
filter's own cut marks decide, so that keyframes, smoothing and the plain average agree on what a cut is.
"""

from __future__ import annotations

from dataclasses import dataclass

import vapoursynth as vs

from ..checks import error

core = vs.core

#: SAD per 8×8 block (8-bit scale) above which a compensated block is rejected: MVTools' Degrain default for
#: the ±radius smoothing; a looser one for keyframes, whose distances are longer (measured in docs/temporal.md:
#: 400 → 1200 halved the keyframe error on cockatoo and car-shadow). Passed as they are: ``mv.Compensate``
#: rescales ``thsad`` itself to the block size (× w·h/64) and bit depth (× (2^bits − 1)/255), by the same
#: factor as ``thscd1``, so 400 means 102 800 on 8×8 blocks at 16 bit. Measured by
#: ``scripts/mc_diagnostics.py``: 3–12 % of the frame is rejected on the four test clips at radius 2.
THSAD = 400
THSAD_KEYFRAMES = 1200
#: MVTools' own scene-change check is switched off (its largest ``thscd1``): cuts are the filter's own marks.
THSCD1 = 16320


@dataclass(frozen=True)
class Search:
    """Block size, overlap and sub-pixel precision for one frame size."""

    blksize: int
    overlap: int
    pel: int = 2

    @classmethod
    def for_size(cls, width: int, height: int) -> Search:
        """8×8 blocks up to ~SD, 16×16 above (same block count per picture height, roughly)."""
        blk = 8 if max(width, height) <= 960 else 16
        return cls(blk, blk // 2)

    @classmethod
    def for_chroma_grid(cls, clip: vs.VideoNode) -> Search:
        """Blocks for :func:`chroma_grid` of ``clip``: those of :meth:`for_size` at ``clip``'s size, shrunk with
        its chroma subsampling so that they cover the same part of the picture (at least 4×4)."""
        fmt = clip.format
        blk = max(
            4, cls.for_size(clip.width, clip.height).blksize >> max(fmt.subsampling_w, fmt.subsampling_h)
        )
        return cls(blk, blk // 2)


def require(func: str) -> None:
    """Raise a clear error when the MVTools plugin is not loaded."""
    if not hasattr(core, "mv"):
        raise error(
            func,
            "motion compensation needs the MVTools plugin (pip install 'vs-colorize[motion]', i.e. vapoursynth-mvtools)",
        )


#: Chroma subsamplings (log2 w, h) that MVTools takes; others (4:1:1, 4:1:0) are worked on as 4:4:4.
SUBSAMPLINGS = frozenset({(0, 0), (1, 0), (1, 1), (0, 1)})


def format16(fmt: vs.VideoFormat) -> vs.VideoFormat:
    """The 16-bit integer format MVTools works on for ``fmt`` (same subsampling where it can)."""
    sub = (
        (fmt.subsampling_w, fmt.subsampling_h)
        if (fmt.subsampling_w, fmt.subsampling_h) in SUBSAMPLINGS
        else (0, 0)
    )
    return core.query_video_format(fmt.color_family, vs.INTEGER, 16, *sub)


def convert(clip: vs.VideoNode, fmt: vs.VideoFormat) -> vs.VideoNode:
    """``clip`` in ``fmt``: float as full range, chroma resampled bilinearly when the subsampling changes."""
    src = clip.format
    same_sub = (src.subsampling_w, src.subsampling_h) == (fmt.subsampling_w, fmt.subsampling_h)
    resize = core.resize.Point if same_sub else core.resize.Bilinear
    if vs.FLOAT in (src.sample_type, fmt.sample_type):
        return resize(clip, format=fmt.id, range_in=1, range=1)
    return resize(clip, format=fmt.id)


def to16(clip: vs.VideoNode) -> vs.VideoNode:
    """``clip`` in :func:`format16` of its format."""
    return convert(clip, format16(clip.format))


def super_clip(clip: vs.VideoNode, search: Search, *, levels: int = 0) -> vs.VideoNode:
    """MVTools' multi-resolution ``Super`` clip (``levels=1`` is enough to compensate with)."""
    return core.mv.Super(clip, pel=search.pel, levels=levels, hpad=search.blksize, vpad=search.blksize)


def vectors(sup: vs.VideoNode, search: Search, delta: int) -> vs.VideoNode:
    """Vectors from each frame ``n`` to ``n + delta`` (``delta`` may be negative), searched on luma."""
    return core.mv.Analyse(
        sup,
        blksize=search.blksize,
        overlap=search.overlap,
        isb=delta > 0,
        delta=abs(delta),
        chroma=False,
        truemotion=True,
    )


def compensate(
    clip: vs.VideoNode, sup: vs.VideoNode, vecs: vs.VideoNode, *, thsad: int = THSAD
) -> vs.VideoNode:
    """Frame ``n + delta`` of ``clip`` moved onto frame ``n``; rejected blocks are ``clip[n]``'s own."""
    return core.mv.Compensate(clip, sup, vecs, thsad=thsad, thscd1=THSCD1)


def chroma_guide(luma: vs.VideoNode, clip16: vs.VideoNode) -> vs.VideoNode:
    """``luma`` in 16 bit at the size of ``clip16``'s chroma planes (bilinear; unchanged for 4:4:4): the
    vectors' guide for :func:`chroma_grid`."""
    fmt = clip16.format
    width, height = clip16.width >> fmt.subsampling_w, clip16.height >> fmt.subsampling_h
    guide = to16(luma)
    return (
        guide
        if (width, height) == (guide.width, guide.height)
        else core.resize.Bilinear(guide, width, height)
    )


def chroma_grid(clip16: vs.VideoNode, guide: vs.VideoNode) -> vs.VideoNode:
    """4:4:4 16-bit clip of ``clip16``'s chroma planes as they are (never resampled), ``guide`` as luma.

    Vectors searched on ``guide`` move the chroma on its own grid. On a subsampled clip ``mv.Compensate``
    would move the chroma by the luma vector shifted right (halved and rounded down: on odd half-pixel
    vectors a quarter chroma pixel off, always the same way) and move the full-size luma too."""
    return core.std.ShufflePlanes([guide, clip16, clip16], [0, 1, 2], vs.YUV)


def from_chroma_grid(clip16: vs.VideoNode, grid: vs.VideoNode) -> vs.VideoNode:
    """``clip16`` with its chroma planes taken from ``grid`` (a :func:`chroma_grid` clip)."""
    return core.std.ShufflePlanes([clip16, grid, grid], [0, 1, 2], vs.YUV)
