"""Finding scrolled content, so it can be sent as a CopyRect (RFC 6143 section 7.7.2).

When a text scrolls, most of the changed area holds rows the client already has, a few rows
higher or lower. Each row of the changed area gets a signature (a weighted sum of a few
bands of its colour keys, vectorised): rows whose old signature is unique in the area vote
for a vertical shift. The rows that the winning shift explains are then compared pixel for
pixel, and their longest run becomes the CopyRect, so a signature collision can cost a missed
scroll but never a wrong picture. A CopyRect costs 16 bytes however large it is.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tasuke.rfb.tiles import ClientView, Keys, Rect

__all__ = ["MIN_SCROLL_ROWS", "Shift", "find_vertical_shift"]

MIN_SCROLL_ROWS = 16
"""A shorter run of moved rows is cheaper to just encode again."""
_BANDS, _BAND = 8, 32
"""A row's signature reads this many bands of this many pixels, spread across the area:
a few cache lines a row instead of the whole row; the exact comparison catches the rest."""
# Fixed odd 32-bit weights, so that equal rows always get equal signatures.
_WEIGHTS = np.random.default_rng(0x5EED).integers(1, 1 << 31, _BANDS * _BAND, dtype=np.uint32) | 1


@dataclass(frozen=True, slots=True)
class Shift:
    """Rows ``dest`` now show what the client has at ``dest`` moved to ``source_y``."""

    dest: Rect
    source_y: int


def _signatures(keys: Keys, area: Rect) -> npt.NDArray[np.uint32]:
    width = min(_BAND, area.width)
    bands = min(_BANDS, area.width // width)
    rows = keys[area.y : area.y + area.height]
    # The weighted bands are added up first and the rows reduced once at the end: numpy
    # reduces a short inner axis slowly, so one such reduction instead of one per band.
    # uint32 arithmetic wraps silently: a hash, not a sum.
    starts = np.linspace(area.x, area.x + area.width - width, bands).astype(int).tolist()
    acc = rows[:, starts[0] : starts[0] + width] * _WEIGHTS[:width]
    product = np.empty_like(acc)
    for i, x in enumerate(starts[1:], 1):
        np.multiply(rows[:, x : x + width], _WEIGHTS[i * _BAND : i * _BAND + width], out=product)
        acc += product
    sums: npt.NDArray[np.uint32] = acc.sum(axis=1, dtype=np.uint32)
    return sums


def _vote(now: npt.NDArray[np.uint32], before: npt.NDArray[np.uint32]) -> tuple[int, int]:
    """The most common shift (before row - now row) among rows unique before, and its votes."""
    values, first, counts = np.unique(before, return_index=True, return_counts=True)
    values, first = values[counts == 1], first[counts == 1]
    if not values.size:
        return 0, 0
    at = np.minimum(np.searchsorted(values, now), len(values) - 1)
    found = np.flatnonzero(values[at] == now)
    shifts = first[at[found]] - found
    shifts = shifts[shifts != 0]
    if not shifts.size:
        return 0, 0
    offsets, votes = np.unique(shifts, return_counts=True)
    best = int(np.argmax(votes))
    return int(offsets[best]), int(votes[best])


def _longest_run(flags: npt.NDArray[np.bool_]) -> tuple[int, int]:
    """Start and length of the longest run of True in ``flags``."""
    edges = np.diff(np.concatenate(([0], flags.view(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if not starts.size:
        return 0, 0
    k = int(np.argmax(ends - starts))
    return int(starts[k]), int(ends[k] - starts[k])


def find_vertical_shift(keys: Keys, view: ClientView, area: Rect) -> Shift | None:
    """The largest block of ``area`` in ``keys`` that the client holds shifted vertically.

    ``area`` is the bounding box of what changed; only rows inside it are considered.
    """
    if area.height < MIN_SCROLL_ROWS * 2:
        return None
    dy, votes = _vote(_signatures(keys, area), _signatures(view.sent, area))
    if votes < MIN_SCROLL_ROWS // 2:
        return None  # not scroll-shaped: no full comparison
    lo, hi = max(0, -dy), min(area.height, area.height - dy)
    x1 = area.x + area.width
    now = keys[area.y + lo : area.y + hi, area.x : x1]
    before = view.sent[area.y + lo + dy : area.y + hi + dy, area.x : x1]
    start, length = _longest_run((now == before).all(axis=1))
    if length < MIN_SCROLL_ROWS:
        return None
    dest = Rect(area.x, area.y + lo + start, area.width, length)
    source_y = dest.y + dy
    if not view.knows(Rect(area.x, source_y, area.width, length)):
        return None
    return Shift(dest, source_y)
