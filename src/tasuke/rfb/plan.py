"""Which rectangles to send for the changed tiles, and what kind of picture each one is.

Tiles of one tile row are classified together with vectorised numpy (one sort per row of
tiles instead of one ``np.unique`` per tile), then neighbours of the same kind are merged into
wider rectangles so that an update of a whole screen is tens of rectangles, not hundreds:

- FILL: one colour (merged only with tiles of the same colour);
- PALETTE: few colours; merged while the union of colours stays within the limit;
- PHOTO: many colours (JPEG or the copy filter in Tight).

Encoders then turn each :class:`Region` into bytes; :func:`palette_indices` maps pixels to
palette indices with a collision-free multiplicative hash (three passes, no sorting).
"""

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tasuke.rfb.tiles import MAX_SPAN_WIDTH, TILE, ClientView, Keys, Rect

__all__ = ["Kind", "Region", "classify", "palette_indices", "plan_regions"]


class Kind(enum.Enum):
    """What a region's pixels look like."""

    FILL = "fill"
    PALETTE = "palette"
    PHOTO = "photo"


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle to send; ``colours`` are its sorted colour keys (FILL, PALETTE only)."""

    rect: Rect
    kind: Kind
    colours: Keys


_NO_COLOURS: Keys = np.zeros(0, dtype=np.uint32)
# Odd 32-bit constants (golden ratio and friends); one of them nearly always hashes a small
# palette without collisions, and searchsorted remains as the exact fallback.
_MULTIPLIERS = (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1)


def classify(keys: Keys, rect: Rect, palette_max: int) -> Region:
    """One rectangle classified on its own (for small updates, where sorting is cheap)."""
    window = keys[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width]
    colours = np.unique(window)
    if len(colours) == 1:
        return Region(rect, Kind.FILL, colours)
    if len(colours) <= palette_max:
        return Region(rect, Kind.PALETTE, colours)
    return Region(rect, Kind.PHOTO, _NO_COLOURS)


def _tiles_of_row(keys: Keys, view: ClientView, row: int, cols: list[int]) -> Keys:
    """The given tiles of one tile row as (n, pixels) keys; a narrow last tile is padded by
    repeating its own pixels, which adds no colour."""
    y0 = row * TILE
    band = keys[y0 : y0 + TILE]
    pad = view.cols * TILE - view.width
    if pad:
        band = np.pad(band, ((0, 0), (0, pad)), mode="edge")
    height = band.shape[0]
    picked = band.reshape(height, view.cols, TILE)[:, cols, :]
    return np.ascontiguousarray(picked.transpose(1, 0, 2)).reshape(len(cols), height * TILE)


def plan_regions(
    keys: Keys, view: ClientView, mask: npt.NDArray[np.bool_], region: Rect, palette_max: int
) -> list[Region]:
    """Classify and merge the tiles set in ``mask``; every rectangle is clipped to ``region``.

    ``palette_max`` is the most colours a PALETTE region may have.
    """
    out: list[Region] = []
    for row in np.flatnonzero(mask.any(axis=1)).tolist():
        cols = np.flatnonzero(mask[row]).tolist()
        tiles = _tiles_of_row(keys, view, row, cols)
        solid = (tiles == tiles[:, :1]).all(axis=1)
        colours: list[Keys] = [tiles[i, :1] for i in range(len(cols))]
        kinds = [Kind.FILL] * len(cols)
        mixed = np.flatnonzero(~solid)
        if mixed.size:
            ordered = np.sort(tiles[mixed], axis=1)
            starts = np.ones(ordered.shape, dtype=np.bool_)
            starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
            counts = starts.sum(axis=1)
            for i, (tile, count) in enumerate(zip(mixed.tolist(), counts.tolist(), strict=True)):
                if count <= palette_max:
                    kinds[tile] = Kind.PALETTE
                    colours[tile] = ordered[i][starts[i]]
                else:
                    kinds[tile] = Kind.PHOTO
                    colours[tile] = _NO_COLOURS
        _merge_row(view, row, cols, kinds, colours, palette_max, region, out)
    return out


def _merge_row(
    view: ClientView,
    row: int,
    cols: list[int],
    kinds: list[Kind],
    colours: list[Keys],
    palette_max: int,
    region: Rect,
    out: list[Region],
) -> None:
    limit = MAX_SPAN_WIDTH // TILE

    def emit(first: int, last: int, kind: Kind, cols_: Keys) -> None:
        clipped = view.span_rect(row, first, last).intersect(region)
        if clipped is not None:
            out.append(Region(clipped, kind, cols_))

    first = prev = cols[0]
    kind, current = kinds[0], colours[0]
    for col, k, c in zip(cols[1:], kinds[1:], colours[1:], strict=True):
        joined: Keys | None = None
        if col == prev + 1 and k is kind and col - first < limit:
            if kind is Kind.PHOTO:
                joined = current
            elif kind is Kind.FILL:
                joined = current if c[0] == current[0] else None
            else:
                union = np.union1d(current, c)
                joined = union if len(union) <= palette_max else None
        if joined is None:
            emit(first, prev, kind, current)
            first, kind, joined = col, k, c
        current, prev = joined, col
    emit(first, prev, kind, current)


def palette_indices(keys: Keys, colours: Keys) -> npt.NDArray[np.uint8]:
    """Each key's index in ``colours`` (sorted, at most 256, and containing every key)."""
    count = len(colours)
    for bits in (8, 10, 12):
        if count > (1 << bits) // 2:
            continue
        shift = np.uint32(32 - bits)
        for multiplier in _MULTIPLIERS:
            m = np.uint32(multiplier)
            slots = (colours * m) >> shift
            if len(np.unique(slots)) == count:
                table = np.zeros(1 << bits, dtype=np.uint8)
                table[slots] = np.arange(count, dtype=np.uint8)
                hashed = keys * m
                hashed >>= shift
                result: npt.NDArray[np.uint8] = table[hashed]
                return result
    return np.searchsorted(colours, keys).astype(np.uint8)
