"""Before/after contact sheet of a colorized film: a few frames of the source above the same frames of the output.

``vs-colorize sheet BEFORE AFTER SHEET.png [--frames 4] [-y]`` (or :func:`write_contact_sheet`).

Both films are decoded with PyAV and converted to RGB by FFmpeg's swscale (the same conversion for both rows);
the frames are spread evenly over the film (first and last frame avoided), laid out left to right, source on
the top row and colorized output on the bottom row, separated by a 4-pixel white gap. The PNG is written
through :func:`~vs_colorize.core.fileio.atomic_output`, so a half-written sheet never exists. Only PyAV and
numpy are needed.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .core.fileio import atomic_output

log = logging.getLogger(__name__)

GAP = 4


def count_frames(path: str | os.PathLike[str]) -> int:
    """Number of video frames in ``path`` (decoded, so exact even when the container does not say)."""
    with av.open(os.fspath(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def pick_frames(total: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly over ``total`` frames, avoiding the first and last frame.

    Args:
        total: frames in the film, >= 1.
        count: frames wanted, >= 1 (fewer are returned when the film is shorter).
    """
    if total < 1:
        raise ValueError(f"pick_frames: total must be >= 1, got {total}")
    if count < 1:
        raise ValueError(f"pick_frames: count must be >= 1, got {count}")
    picks = [round((i + 1) * total / (count + 1)) for i in range(count)]
    return sorted({min(max(p, 0), total - 1) for p in picks})


def read_frames(path: str | os.PathLike[str], indices: list[int]) -> list[np.ndarray]:
    """The frames at ``indices`` (decode order) of ``path`` as ``H×W×3`` uint8 RGB arrays."""
    wanted = set(indices)
    found: dict[int, np.ndarray] = {}
    with av.open(os.fspath(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                found[i] = frame.to_ndarray(format="rgb24")
                if len(found) == len(wanted):
                    break
    missing = sorted(wanted - set(found))
    if missing:
        raise ValueError(f"read_frames: path {os.fspath(path)!r} has no frames {missing}")
    return [found[i] for i in indices]


def compose(top: list[np.ndarray], bottom: list[np.ndarray]) -> np.ndarray:
    """Tile ``top`` frames in a row above ``bottom`` frames (same count and size), white gaps between tiles."""
    if len(top) != len(bottom) or not top:
        raise ValueError(
            f"compose: top and bottom must hold the same number (>0) of frames, got {len(top)}, {len(bottom)}"
        )
    h, w = top[0].shape[:2]
    for frame in (*top, *bottom):
        if frame.shape != (h, w, 3):
            raise ValueError(f"compose: every frame must be {h}x{w} RGB, got shape {frame.shape}")
    n = len(top)
    sheet = np.full((2 * h + GAP, n * w + (n - 1) * GAP, 3), 255, dtype=np.uint8)
    for row, frames in enumerate((top, bottom)):
        for col, frame in enumerate(frames):
            y, x = row * (h + GAP), col * (w + GAP)
            sheet[y : y + h, x : x + w] = frame
    return sheet


def encode_png(rgb: np.ndarray) -> bytes:
    """An ``H×W×3`` uint8 RGB array as PNG file bytes (PyAV's encoder)."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    ctx = av.CodecContext.create("png", "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = frame.width, frame.height, "rgb24", Fraction(1, 1)
    frame.pts = 0
    return b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)])


def write_contact_sheet(
    before: str | os.PathLike[str],
    after: str | os.PathLike[str],
    out_png: str | os.PathLike[str],
    *,
    frames: int = 4,
    overwrite: bool = False,
) -> list[int]:
    """Write the before/after sheet of ``before`` (source film) and ``after`` (its colorized render).

    Args:
        before: the source film.
        after: the colorized film, same frame count and size as ``before``.
        out_png: the PNG to write (its folder must exist).
        frames: how many frames to show, 1..16 (default 4).
        overwrite: replace an existing ``out_png``.

    Returns:
        The frame indices shown.
    """
    if not 1 <= frames <= 16:
        raise ValueError(f"write_contact_sheet: frames must be in 1..16, got {frames}")
    out = Path(out_png)
    if out.exists() and not overwrite:
        raise FileExistsError(f"write_contact_sheet: out_png {str(out)!r} exists; pass overwrite=True")
    total_before, total_after = count_frames(before), count_frames(after)
    if total_before != total_after:
        raise ValueError(
            f"write_contact_sheet: after has {total_after} frames but before has {total_before}; "
            "is it the render of this film?"
        )
    indices = pick_frames(total_before, frames)
    sheet = compose(read_frames(before, indices), read_frames(after, indices))
    with atomic_output(out, overwrite=overwrite) as tmp:
        tmp.write_bytes(encode_png(sheet))
    log.info("contact sheet: frames %s of %s -> %s", indices, after, out)
    return indices
