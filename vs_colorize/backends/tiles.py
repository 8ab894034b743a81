"""How a backend cuts a frame for the model: whole, padded, or in blended tiles (the backend contract's tiling).

:func:`plan_tiles` turns what a filter passes to :meth:`Backend.apply <vs_colorize.backends.base.Backend.apply>`
(``tile``, ``overlap``) and the model's metadata into a :class:`TilePlan`, or None when the frames go to the model
as they are. Session backends run a plan with :func:`vs_colorize.tiling.run_tiled`; vs-mlrt with its own
``tilesize``/``overlap``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ..checks import check_int, error
from ..core.contract import ModelInfo
from ..tiling import padded_size

log = logging.getLogger("vs_colorize")

#: Tile overlap when none is given (capped at half the tile side).
DEFAULT_OVERLAP = 32

#: What ``tile`` may be: None, a side, or (height, width).
TileArg = int | Sequence[int] | None


@dataclass(frozen=True)
class TilePlan:
    """How to feed frames the model does not take as they are.

    ``tile`` (height, width) on the input grid, every tile padded to exactly that size (one input shape, so
    shape-specialised runtimes such as TensorRT engines build once); None: the whole frame, padded at its
    bottom/right to what the model accepts. Adjacent tiles share at least ``overlap`` input pixels.
    """

    tile: tuple[int, int] | None
    overlap: int
    scale: int
    multiple: int
    min_size: int

    def model_size(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) of every model call for ``height``×``width`` frames."""
        if self.tile is not None:
            return self.tile
        return (
            padded_size(height, multiple=self.multiple, min_size=self.min_size),
            padded_size(width, multiple=self.multiple, min_size=self.min_size),
        )


def plan_tiles(
    info: ModelInfo, height: int, width: int, *, tile: TileArg, overlap: int | None, func: str
) -> TilePlan | None:
    """The plan for ``height``×``width`` input frames, or None when the model takes them as they are.

    ``tile``: None (whole frames; tiled automatically when the padded frame exceeds a dynamic model's size range;
    a static model always runs in tiles of its size), an int side or (height, width): a multiple of the model's
    ``multiple`` within its range (a static model accepts only its own size). ``overlap``: >= 0 and smaller than
    the tile side; None = :data:`DEFAULT_OVERLAP`, at most half the tile side. Errors name ``func`` and the argument.
    """
    if overlap is not None:
        check_int(overlap, func, "overlap", 0)
    if tile is None and info.accepts(height, width):
        return None
    side = _tile_size(tile, info, height, width, func)
    if overlap is None:
        overlap = min(DEFAULT_OVERLAP, min(side) // 2) if side is not None else DEFAULT_OVERLAP
    if side is not None and overlap >= min(side):
        raise error(func, f"overlap must be smaller than the tile side {min(side)}, got {overlap}")
    lo = info.dynamic_range[0] if info.dynamic_range else 1
    return TilePlan(side, overlap, info.scale, info.multiple, lo)


def _tile_size(tile: TileArg, info: ModelInfo, height: int, width: int, func: str) -> tuple[int, int] | None:
    """Validate ``tile`` against the model and pick a tile when the frame exceeds the model's range."""
    if info.static_size is not None:
        wanted = (tile, tile) if isinstance(tile, int) else None if tile is None else tuple(tile)
        if wanted is not None and wanted != info.static_size:
            raise error(
                func, f"tile must be None or the model's static size {info.static_size}, got {tile!r}"
            )
        return info.static_size
    lo, hi = info.dynamic_range  # type: ignore[misc]
    if tile is None:
        if max(padded_size(s, multiple=info.multiple, min_size=lo) for s in (width, height)) <= hi:
            return None
        side = hi // info.multiple * info.multiple
        log.info(
            "%s: frame %dx%d exceeds the model's %d px limit; tiling at %d", func, width, height, hi, side
        )
        return side, side
    if not isinstance(tile, int) and (not isinstance(tile, Sequence) or len(tile) != 2):
        raise error(func, f"tile must be None, an int or (height, width), got {tile!r}")
    th, tw = (tile, tile) if isinstance(tile, int) else tuple(tile)
    for v in (th, tw):
        check_int(v, func, "tile", lo, hi)
        if v % info.multiple:
            raise error(func, f"tile must be a multiple of {info.multiple} for this model, got {tile!r}")
    return th, tw
