"""Finding scrolled content, so it can be sent as a CopyRect (RFC 6143 section 7.7.2).

When a text scrolls, most of the changed area holds rows the client already has, a few rows
higher or lower. Rows are compared by hash (xxh3 over each row's colour keys, across the
changed columns only): rows whose old hash is unique in the area vote for a vertical shift, the
shift with most votes is checked over its longest run of matching rows, and that run is
verified pixel for pixel before it is used. A CopyRect costs 16 bytes however large it is.
"""

from collections import Counter
from dataclasses import dataclass

import numpy as np
import xxhash

from tasuke.rfb.tiles import ClientView, Keys, Rect

__all__ = ["MIN_SCROLL_ROWS", "Shift", "find_vertical_shift"]

MIN_SCROLL_ROWS = 16
"""A shorter run of moved rows is cheaper to just encode again."""


@dataclass(frozen=True, slots=True)
class Shift:
    """Rows ``dest`` now show what the client has at ``dest`` moved to ``source_y``."""

    dest: Rect
    source_y: int


def _row_hashes(keys: Keys, area: Rect) -> list[int]:
    x1 = area.x + area.width
    return [
        xxhash.xxh3_64_intdigest(keys[y, area.x : x1].data)
        for y in range(area.y, area.y + area.height)
    ]


def find_vertical_shift(keys: Keys, view: ClientView, area: Rect) -> Shift | None:
    """The largest block of ``area`` in ``keys`` that the client holds shifted vertically.

    ``area`` is the bounding box of what changed; only rows inside it are considered.
    """
    if area.height < MIN_SCROLL_ROWS * 2:
        return None
    now, before = _row_hashes(keys, area), _row_hashes(view.sent, area)
    counts = Counter(before)
    where = {h: i for i, h in enumerate(before) if counts[h] == 1}
    votes = Counter(where[h] - i for i, h in enumerate(now) if h in where and where[h] != i)
    if not votes:
        return None
    dy, count = votes.most_common(1)[0]
    if count < MIN_SCROLL_ROWS // 2:
        return None
    best_start, best_len, start = 0, 0, None
    lo, hi = max(0, -dy), min(len(now), len(now) - dy)
    for i in range(lo, hi + 1):
        match = i < hi and now[i] == before[i + dy]
        if match and start is None:
            start = i
        elif not match and start is not None:
            if i - start > best_len:
                best_start, best_len = start, i - start
            start = None
    if best_len < MIN_SCROLL_ROWS:
        return None
    dest = Rect(area.x, area.y + best_start, area.width, best_len)
    source_y = dest.y + dy
    source = Rect(area.x, source_y, area.width, best_len)
    if not view.knows(source):
        return None
    window = keys[dest.y : dest.y + best_len, area.x : area.x + area.width]
    moved = view.sent[source_y : source_y + best_len, area.x : area.x + area.width]
    if not np.array_equal(window, moved):  # a hash collision: never send a wrong picture
        return None
    return Shift(dest, source_y)
