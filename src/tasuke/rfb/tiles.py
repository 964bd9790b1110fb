"""Per-tile change detection against what one client has already been sent.

The screen is cut into TILE x TILE squares. :class:`ClientView` remembers the pixels last sent
to a client and which tiles it holds at all, so an idle screen produces no work and a change in
one tile sends only that tile.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tasuke.desktop.base import Frame

__all__ = ["TILE", "ClientView", "Rect"]

TILE = 64
"""Tile edge in pixels: small enough to isolate changes, big enough to keep headers rare."""


@dataclass(frozen=True, slots=True)
class Rect:
    """A rectangle in framebuffer pixels."""

    x: int
    y: int
    width: int
    height: int

    def clip(self, width: int, height: int) -> "Rect | None":
        """This rectangle cut to a width x height framebuffer, or None if nothing is left."""
        x0, y0 = min(self.x, width), min(self.y, height)
        x1, y1 = min(self.x + self.width, width), min(self.y + self.height, height)
        if x1 <= x0 or y1 <= y0:
            return None
        return Rect(x0, y0, x1 - x0, y1 - y0)

    def union(self, other: "Rect") -> "Rect":
        """The bounding box of both rectangles."""
        x0, y0 = min(self.x, other.x), min(self.y, other.y)
        x1 = max(self.x + self.width, other.x + other.width)
        y1 = max(self.y + self.height, other.y + other.height)
        return Rect(x0, y0, x1 - x0, y1 - y0)


class ClientView:
    """What one client's framebuffer holds, at tile granularity."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self._rows = (height + TILE - 1) // TILE
        self._cols = (width + TILE - 1) // TILE
        self._sent: Frame = np.zeros((height, width, 4), dtype=np.uint8)
        # Per pixel, because a client may ask for regions that cut tiles.
        self._known: npt.NDArray[np.bool_] = np.zeros((height, width), dtype=np.bool_)

    def forget(self) -> None:
        """Treat every tile as unknown to the client (after a resize or a lost picture)."""
        self._known[:] = False

    def dirty_tiles(self, frame: Frame) -> npt.NDArray[np.bool_]:
        """Return a (rows, cols) mask of tiles whose pixels differ from what the client holds."""
        now = frame.view(np.uint32)[..., 0]
        before = self._sent.view(np.uint32)[..., 0]
        # Capture backends fill the X byte arbitrarily; only B, G, R matter.
        differs = ((now ^ before) & np.uint32(0x00FFFFFF)).astype(np.bool_)
        differs |= ~self._known
        starts_y = np.arange(0, self.height, TILE)
        starts_x = np.arange(0, self.width, TILE)
        per_row = np.logical_or.reduceat(differs, starts_y, axis=0)
        changed: npt.NDArray[np.bool_] = np.logical_or.reduceat(per_row, starts_x, axis=1)
        return changed

    def rects(self, mask: npt.NDArray[np.bool_], region: Rect) -> list[Rect]:
        """Tiles set in ``mask`` as rectangles, each clipped to ``region``."""
        out: list[Rect] = []
        rows, cols = np.nonzero(mask)
        for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
            tile = Rect(col * TILE, row * TILE, TILE, TILE)
            x0, y0 = max(tile.x, region.x), max(tile.y, region.y)
            x1 = min(tile.x + TILE, region.x + region.width, self.width)
            y1 = min(tile.y + TILE, region.y + region.height, self.height)
            if x1 > x0 and y1 > y0:
                out.append(Rect(x0, y0, x1 - x0, y1 - y0))
        return out

    def region_mask(self, region: Rect) -> npt.NDArray[np.bool_]:
        """A (rows, cols) mask of the tiles that ``region`` touches."""
        mask = np.zeros((self._rows, self._cols), dtype=np.bool_)
        r0, c0 = region.y // TILE, region.x // TILE
        r1 = (region.y + region.height + TILE - 1) // TILE
        c1 = (region.x + region.width + TILE - 1) // TILE
        mask[r0:r1, c0:c1] = True
        return mask

    def mark_sent(self, frame: Frame, rects: list[Rect]) -> None:
        """Record that the client now holds ``frame`` inside ``rects``."""
        for r in rects:
            self._sent[r.y : r.y + r.height, r.x : r.x + r.width] = frame[
                r.y : r.y + r.height, r.x : r.x + r.width
            ]
            self._known[r.y : r.y + r.height, r.x : r.x + r.width] = True
