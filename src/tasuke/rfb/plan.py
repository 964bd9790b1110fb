"""Which rectangles to send for the changed tiles, and what kind of picture each one is.

All changed tiles are classified at once with vectorised numpy: a sample of one pixel in
eight is sorted first, so that a photographic tile (too many colours in the sample alone) or a
solid one costs no full sort; only the rest are sorted whole. Neighbours of the same kind are
then merged, across each tile row and then down the rows, so that an update of a whole screen
is tens of rectangles, not hundreds, and a photograph is one JPEG:

- FILL: one colour (merged only with tiles of the same colour);
- PALETTE: few colours; merged while the union of colours stays within the limit (and a
  two-colour region, one bit a pixel, is not merged into a bigger palette);
- PHOTO: many colours (JPEG or the copy filter in Tight).

Encoders then turn each :class:`Region` into bytes; :func:`palette_indices` maps pixels to
palette indices with one lookup per pixel in a table of all colour keys (no sorting).
"""

import enum
import itertools
import threading
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
_tables = threading.local()
_FILL_CODE, _PALETTE_CODE, _PHOTO_CODE = 0, 1, 2
_KINDS = (Kind.FILL, Kind.PALETTE, Kind.PHOTO)
_MAX_MERGED_PIXELS = MAX_SPAN_WIDTH * 256
"""Merged regions stay this small: a lossless photo in a 32-bit pixel format (4 bytes a
pixel, incompressible) must stay under Tight's 4 MiB compact length."""
Ints = npt.NDArray[np.intp]


def classify(keys: Keys, rect: Rect, palette_max: int) -> Region:
    """One rectangle classified on its own (for small updates, where sorting is cheap)."""
    window = keys[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width]
    colours = np.unique(window)
    if len(colours) == 1:
        return Region(rect, Kind.FILL, colours)
    if len(colours) <= palette_max:
        return Region(rect, Kind.PALETTE, colours)
    return Region(rect, Kind.PHOTO, _NO_COLOURS)


def _tile_stack(keys: Keys, view: ClientView, rows: Ints, cols: Ints) -> Keys:
    """The tiles at (``rows``, ``cols``) as (n, TILE * TILE) keys, in the given order.

    Whole tiles are copied run by run (neighbours in a tile row) out of a (rows, TILE, cols,
    TILE) view, which is twice as fast as one fancy index; tiles cut by the right or bottom
    edge are padded by repeating their last row and column, which adds no colour.
    """
    n = len(rows)
    out = np.empty((n, TILE, TILE), dtype=np.uint32)
    full_rows, full_cols = view.height // TILE, view.width // TILE
    whole = (rows < full_rows) & (cols < full_cols)
    if whole.any():
        body = keys[: full_rows * TILE, : full_cols * TILE].reshape(
            full_rows, TILE, full_cols, TILE
        )
        breaks = np.ones(n + 1, dtype=np.bool_)
        breaks[1:n] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1] + 1) | ~whole[1:]
        starts = np.flatnonzero(breaks).tolist()
        for k0, k1 in itertools.pairwise(starts):
            if whole[k0]:
                r, c0 = int(rows[k0]), int(cols[k0])
                np.copyto(out[k0:k1], body[r, :, c0 : c0 + k1 - k0, :].transpose(1, 0, 2))
    edge = np.flatnonzero(~whole)
    if edge.size:
        step = np.arange(TILE)
        ys = np.minimum(rows[edge, None] * TILE + step, view.height - 1)
        xs = np.minimum(cols[edge, None] * TILE + step, view.width - 1)
        out[edge] = keys[ys[:, :, None], xs[:, None, :]]
    return out.reshape(len(rows), TILE * TILE)


def _samples(keys: Keys, view: ClientView, rows: Ints, cols: Ints) -> Keys:
    """One pixel in eight (every 2nd row, every 4th column) of the tiles at (``rows``,
    ``cols``), as (n, TILE * TILE / 8) keys; whole tiles are read in place."""
    n = len(rows)
    out = np.empty((n, TILE // 2, TILE // 4), dtype=np.uint32)
    full_rows, full_cols = view.height // TILE, view.width // TILE
    whole = (rows < full_rows) & (cols < full_cols)
    if whole.any():
        body = keys[: full_rows * TILE, : full_cols * TILE].reshape(
            full_rows, TILE, full_cols, TILE
        )
        out[whole] = body[rows[whole], ::2, cols[whole], ::4]
    edge = np.flatnonzero(~whole)
    if edge.size:
        out[edge] = _tile_stack(keys, view, rows[edge], cols[edge]).reshape(-1, TILE, TILE)[
            :, ::2, ::4
        ]
    return out.reshape(n, -1)


def _count_colours(tiles: Keys) -> tuple[Keys, npt.NDArray[np.bool_], Ints]:
    """Sort each tile's keys; return them, where each new colour starts, and the counts."""
    ordered = np.sort(tiles, axis=1)
    starts = np.ones(ordered.shape, dtype=np.bool_)
    np.not_equal(ordered[:, 1:], ordered[:, :-1], out=starts[:, 1:])
    return ordered, starts, np.count_nonzero(starts, axis=1)


def plan_regions(
    keys: Keys, view: ClientView, mask: npt.NDArray[np.bool_], region: Rect, palette_max: int
) -> list[Region]:
    """Classify and merge the tiles set in ``mask``; every rectangle is clipped to ``region``.

    ``palette_max`` is the most colours a PALETTE region may have. All tiles are classified
    at once; a tile whose pixel sample alone has too many colours is PHOTO without sorting
    the whole tile (most of a photograph's cost).
    """
    rows, cols = np.nonzero(mask)
    if not rows.size:
        return []
    n = len(rows)
    kinds = np.full(n, _FILL_CODE, dtype=np.int8)
    palette: Ints = np.zeros(0, dtype=np.intp)
    palette_colours: list[Keys] = []
    # One pixel in eight first, read in place: if the sample holds too many colours, so does
    # the tile (a photograph's tiles are never copied), and a sample of one colour is nearly
    # always a solid tile (checked exactly).
    _, _, sampled = _count_colours(_samples(keys, view, rows, cols))
    kinds[sampled > palette_max] = _PHOTO_CODE
    one = np.flatnonzero(sampled == 1)
    if one.size:
        whole = _tile_stack(keys, view, rows[one], cols[one])
        one = one[~(whole == whole[:, :1]).all(axis=1)]
    maybe = np.flatnonzero((sampled > 1) & (sampled <= palette_max))
    maybe = np.sort(np.concatenate((maybe, one)))
    if maybe.size:
        ordered, starts, counts = _count_colours(_tile_stack(keys, view, rows[maybe], cols[maybe]))
        fits = counts <= palette_max
        kinds[maybe[~fits]] = _PHOTO_CODE
        palette = maybe[fits]
        kinds[palette] = _PALETTE_CODE
        palette_colours = [ordered[i][starts[i]] for i in np.flatnonzero(fits).tolist()]
    first = keys[rows * TILE, cols * TILE].tolist()
    sets: list[frozenset[int]] = [frozenset((k,)) for k in first]
    for i, tile in enumerate(palette.tolist()):
        sets[tile] = frozenset(palette_colours[i].tolist())
    for tile in np.flatnonzero(kinds == _PHOTO_CODE).tolist():
        sets[tile] = _EMPTY
    runs = _merge_across(view, rows.tolist(), cols.tolist(), kinds.tolist(), sets, palette_max)
    return [
        Region(rect, _KINDS[kind], _sorted(colours, kind))
        for rect, kind, colours in _merge_down(runs, region, palette_max)
    ]


_Run = tuple[Rect, int, frozenset[int]]
_EMPTY: frozenset[int] = frozenset()


def _sorted(colours: frozenset[int], kind: int) -> Keys:
    if kind == _PHOTO_CODE:
        return _NO_COLOURS
    return np.array(sorted(colours), dtype=np.uint32)


def _join(
    a: frozenset[int], b: frozenset[int], kind: int, palette_max: int
) -> frozenset[int] | None:
    """The colours of two neighbours of ``kind`` as one region, or None if they cannot be."""
    if kind == _PHOTO_CODE:
        return a
    if kind == _FILL_CODE:
        return a if a == b else None
    union = a | b
    # Two colours pack eight pixels a byte; do not give that up for a bigger rectangle.
    if len(union) > palette_max or (len(union) > 2 and min(len(a), len(b)) <= 2):
        return None
    return union


def _merge_across(
    view: ClientView,
    rows: list[int],
    cols: list[int],
    kinds: list[int],
    sets: list[frozenset[int]],
    palette_max: int,
) -> list[_Run]:
    """Runs of neighbouring tiles of one tile row that can be one region, row by row."""
    limit = MAX_SPAN_WIDTH // TILE
    out: list[_Run] = []
    row, first, prev, kind, current = rows[0], cols[0], cols[0], kinds[0], sets[0]
    for r, col, k, s in zip(rows[1:], cols[1:], kinds[1:], sets[1:], strict=True):
        joined = None
        if r == row and col == prev + 1 and k == kind and col - first < limit:
            joined = _join(current, s, kind, palette_max)
        if joined is None:
            out.append((view.span_rect(row, first, prev), kind, current))
            row, first, kind, joined = r, col, k, s
        current, prev = joined, col
    out.append((view.span_rect(row, first, prev), kind, current))
    return out


def _merge_down(runs: list[_Run], region: Rect, palette_max: int) -> list[_Run]:
    """Clip runs to ``region`` and merge each with the one right above it when both have the
    same columns and can share one encoding: a photograph becomes one JPEG, not one a row."""
    out: list[_Run] = []
    above: dict[tuple[int, int], int] = {}  # (x, width) -> index in out of the lowest run
    for rect, kind, colours in runs:
        r = rect.intersect(region)
        if r is None:
            continue
        i = above.get((r.x, r.width))
        if i is not None:
            up, up_kind, up_colours = out[i]
            if up_kind == kind and up.y + up.height == r.y:
                joined = _join(up_colours, colours, kind, palette_max)
                if joined is not None and r.width * (up.height + r.height) <= _MAX_MERGED_PIXELS:
                    out[i] = (Rect(r.x, up.y, r.width, up.height + r.height), kind, joined)
                    continue
        above[(r.x, r.width)] = len(out)
        out.append((r, kind, colours))
    return out


def palette_indices(keys: Keys, colours: Keys) -> npt.NDArray[np.uint8]:
    """Each key's index in ``colours`` (at most 256, containing every key).

    One lookup in a table of all 2**24 colour keys per thread (16 MiB of address space, of
    which only the pages of the colours in use are ever touched): entries of colours from
    earlier calls stay behind but are never read, since every key is in ``colours``.
    """
    table = getattr(_tables, "table", None)
    if table is None:
        table = _tables.table = np.zeros(1 << 24, dtype=np.uint8)
    table[colours] = np.arange(len(colours), dtype=np.uint8)
    result: npt.NDArray[np.uint8] = np.take(table, keys)
    return result
