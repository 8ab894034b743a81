"""Overlapping tiles with seamless blending for scale× models (pure numpy).

A frame too large for the accelerator is cut into tiles of at most ``tile`` pixels per side on the model's
*input* grid, adjacent tiles sharing at least ``overlap`` pixels. Each tile's output is weighted and the weighted
sum is normalised, so the result has no seams:

* along a side that borders another tile, the outer quarter of the shared strip gets weight 0 (those pixels saw
  the tile's zero padding, not the real neighbourhood) and the middle half is cross-faded linearly;
* along a side on the frame border the weight stays 1 (the untiled run sees the same border).

Hence, for a model whose receptive field reaches ``r`` input pixels, tiling with ``overlap >= 4·r`` gives the
untiled result up to float rounding. Tiles (or the whole frame when it fits) are padded by reflection at their
bottom/right to a multiple of ``multiple`` and at least ``min_size`` (or, with ``fixed``, to exactly ``tile``), and
the padded part of the output is cropped away.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

Infer = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Span:
    """One tile's extent along an axis, with how many input pixels it shares with each neighbour."""

    start: int
    length: int
    overlap_before: int = 0
    overlap_after: int = 0


def plan_axis(size: int, tile: int, overlap: int) -> list[Span]:
    """Tile one axis of ``size`` pixels with spans of ``tile`` pixels sharing at least ``overlap``.

    Starts are ``0, tile−overlap, …`` and the last span is aligned with the end of the axis. A ``size`` that fits
    in one tile gives one span.
    """
    if size < 1:
        raise ValueError(f"plan_axis: size must be >= 1, got {size}")
    if tile < 1:
        raise ValueError(f"plan_axis: tile must be >= 1, got {tile}")
    if size <= tile:
        return [Span(0, size)]
    if not 0 <= overlap < tile:
        raise ValueError(f"plan_axis: overlap must be in 0..{tile - 1}, got {overlap}")
    stride = tile - overlap
    starts = [*range(0, size - tile, stride), size - tile]
    spans = []
    for i, s in enumerate(starts):
        before = starts[i - 1] + tile - s if i > 0 else 0
        after = s + tile - starts[i + 1] if i + 1 < len(starts) else 0
        spans.append(Span(s, tile, before, after))
    return spans


def ramp(length: int, overlap_before: int, overlap_after: int, scale: int) -> np.ndarray:
    """Blend weights (float64, ``length·scale`` values) of one span on the output grid."""
    w = np.ones(length * scale)
    for ov, side in ((overlap_before, 0), (overlap_after, 1)):
        if ov <= 0:
            continue
        margin = (ov // 4) * scale
        width = ov * scale - 2 * margin
        p = np.arange(ov * scale, dtype=np.float64)
        rise = np.clip((p - margin + 0.5) / width, 0.0, 1.0)
        if side == 0:
            w[: ov * scale] *= rise
        else:
            w[length * scale - ov * scale :] *= rise[::-1]
    return w


def padded_size(length: int, *, multiple: int, min_size: int) -> int:
    """The smallest size >= ``length`` and >= ``min_size`` that is a multiple of ``multiple``."""
    target = max(length, min_size)
    return -(-target // multiple) * multiple


def pad_bottom_right(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad an NCHW array at its bottom/right to (height, width): reflection, or edge copies for tiny inputs."""
    ph, pw = height - x.shape[2], width - x.shape[3]
    if ph == 0 and pw == 0:
        return x
    mode: Literal["reflect", "edge"] = "reflect" if ph < x.shape[2] and pw < x.shape[3] else "edge"
    return np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode=mode)


@dataclass(frozen=True)
class Tile:
    """One tile of a plan: its input region, its padded size fed to the model, and its output region with
    the normalised blend weights there (float32, read-only; the weights of all tiles sum to 1 per pixel)."""

    rows: slice
    cols: slice
    padded: tuple[int, int]
    out_rows: slice
    out_cols: slice
    weight: np.ndarray


@functools.lru_cache(maxsize=32)
def tile_plan(
    h: int,
    w: int,
    tile: tuple[int, int],
    overlap: int,
    scale: int,
    multiple: int,
    min_size: int,
    fixed: bool,
) -> tuple[Tile, ...]:
    """The tiles of an ``h``×``w`` input and their blend weights, computed once per plan (cached)."""
    th, tw = tile
    rows, cols = plan_axis(h, th, overlap), plan_axis(w, tw, overlap)
    total = np.zeros((scale * h, scale * w))
    spans = []
    for r in rows:
        wr = ramp(r.length, r.overlap_before, r.overlap_after, scale)
        for c in cols:
            wt = np.outer(wr, ramp(c.length, c.overlap_before, c.overlap_after, scale))
            ys = slice(scale * r.start, scale * (r.start + r.length))
            xs = slice(scale * c.start, scale * (c.start + c.length))
            total[ys, xs] += wt
            spans.append((r, c, ys, xs, wt))
    tiles = []
    for r, c, ys, xs, wt in spans:
        if fixed:
            padded = (th, tw)
        else:
            padded = (
                padded_size(r.length, multiple=multiple, min_size=min_size),
                padded_size(c.length, multiple=multiple, min_size=min_size),
            )
        weight = (wt / total[ys, xs]).astype(np.float32)
        weight.setflags(write=False)
        tiles.append(
            Tile(
                slice(r.start, r.start + r.length),
                slice(c.start, c.start + c.length),
                padded,
                ys,
                xs,
                weight,
            )
        )
    return tuple(tiles)


def run_tiled(
    infer: Infer,
    x: np.ndarray,
    *,
    scale: int,
    tile: tuple[int, int] | None = None,
    overlap: int = 16,
    multiple: int = 1,
    min_size: int = 1,
    fixed: bool = False,
) -> np.ndarray:
    """Run ``infer`` (NCHW float32 → NCHW float32 at ``scale``×) over ``x`` in blended tiles.

    Args:
        infer: the model; called once per tile with an array whose sides satisfy ``multiple``/``min_size``.
        x: input ``[N, C, H, W]`` float32.
        scale: the model's spatial scale factor (output side = ``scale`` × input side), >= 1.
        tile: (height, width) of a tile on the input grid; None = the whole frame in one piece.
        overlap: input pixels shared by adjacent tiles, >= 0 and < tile side (default 16).
        multiple: every side fed to ``infer`` is a multiple of this (default 1).
        min_size: every side fed to ``infer`` is at least this (default 1).
        fixed: pad every tile to exactly ``tile`` (models exported with a static shape).

    Returns:
        ``[N, C_out, scale·H, scale·W]`` float32 (accumulated in float32; the blend weights come from
        :func:`tile_plan`, computed once per frame size and settings).
    """
    if x.ndim != 4:
        raise ValueError(f"run_tiled: x must be NCHW, got shape {x.shape}")
    if scale < 1 or multiple < 1 or min_size < 1:
        raise ValueError("run_tiled: scale, multiple and min_size must be >= 1")
    n, _, h, w = x.shape
    th, tw = tile if tile is not None else (h, w)
    if fixed and tile is None:
        raise ValueError("run_tiled: fixed needs a tile size")
    if tile is not None and (th % multiple or tw % multiple):
        raise ValueError(f"run_tiled: tile {tile} must be a multiple of {multiple}")
    out: np.ndarray | None = None
    for t in tile_plan(h, w, (th, tw), overlap, scale, multiple, min_size, fixed):
        ph, pw = t.padded
        piece = x[:, :, t.rows, t.cols]
        y = infer(np.ascontiguousarray(pad_bottom_right(piece, ph, pw), dtype=np.float32))
        if y.ndim != 4 or y.shape[0] != n or y.shape[2:] != (scale * ph, scale * pw):
            raise ValueError(
                f"run_tiled: infer returned shape {y.shape} for input {(n, x.shape[1], ph, pw)} at scale {scale}"
            )
        y = y[:, :, : t.weight.shape[0], : t.weight.shape[1]]
        if out is None:
            out = np.zeros((n, y.shape[1], scale * h, scale * w), dtype=np.float32)
        out[:, :, t.out_rows, t.out_cols] += y * t.weight
    assert out is not None  # a plan is never empty
    return out
