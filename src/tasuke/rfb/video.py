"""Video mode: when a large region keeps changing, send it as H.264 instead of tiles.

A tile is *hot* once it has changed continuously (never still for more than
:data:`~tasuke.limits.RFB_VIDEO_GAP`) for :data:`~tasuke.limits.RFB_VIDEO_HOT_AFTER`. When at
least :data:`~tasuke.limits.RFB_VIDEO_MIN_TILES` tiles are hot and fill at least half of their
bounding box, that box becomes the video rectangle: one H.264 stream (noVNC keys its decoders
by rectangle, so the rectangle stays fixed; growing it starts a new stream). Tiles inside it
leave the tile path. Once nothing inside it has changed for
:data:`~tasuke.limits.RFB_VIDEO_SETTLE`, video mode ends and the rectangle is sent once more,
losslessly, so the settled screen is pixel-exact and text sharp again.

A region that changed since the last step has not settled, however long ago that step was
(on a slow link steps come further apart than the settle time).

On a slow link the stream follows :mod:`tasuke.rfb.adapt`: its CRF from the capped quality
level and a rate cap (x264 VBV) from the measured throughput. Either changing is a new
stream (a decoder reset and an IDR picture; PyAV cannot change the cap of an open encoder),
never a lossless resend, which a slow link could not carry.

Only for viewers that list encoding 50. Time comes in as an argument (sans-I/O).
"""

import math
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from tasuke import limits
from tasuke.desktop.base import Frame
from tasuke.rfb import constants as c
from tasuke.rfb.tiles import TILE, ClientView, Keys, Rect

if TYPE_CHECKING:
    from tasuke.rfb.encoders.h264 import H264Encoder

__all__ = ["VideoMode", "VideoStep"]

_RECT = struct.Struct(">HHHHi")
_DENSITY = 0.5
"""Hot tiles must fill at least this share of their bounding box to become one video."""
_MIN_SIDE_TILES = 3
"""A video is at least this many tiles high and wide."""
_GROW_TILES = 4
"""Hot tiles outside the video rectangle that make it grow (a new stream)."""

Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class VideoStep:
    """What video mode contributes to one update."""

    rectangle: bytes
    """A whole encoding-50 rectangle (header and body), or b"" when there is none."""
    dirty: Mask
    """The changed tiles still to be sent as tiles."""
    exact: Rect | None
    """A rectangle that just left video mode: send it losslessly in this update."""


class VideoMode:
    """Per-connection video state over one :class:`ClientView` (a new one after a resize)."""

    def __init__(self, view: ClientView) -> None:
        self.view = view
        shape = (view.rows, view.cols)
        self._last = np.full(shape, -math.inf)
        self._since = np.full(shape, -math.inf)
        self.rect: Rect | None = None
        self.mask: Mask = np.zeros(shape, dtype=np.bool_)
        """The tiles of the video rectangle (none while inactive)."""
        self._encoder: H264Encoder | None = None
        self._quality: int | None = None
        self._rate: float | None = None
        self._changed_at = 0.0
        self.streams = 0
        """H.264 streams started so far (for tests and benchmarks)."""

    @property
    def active(self) -> bool:
        """True while a region is being sent as video."""
        return self.rect is not None

    def step(
        self,
        enabled: bool,
        quality: int | None,
        frame: Frame,
        keys: Keys,
        changed: Mask,
        now: float,
        *,
        forced: bool,
        rate: float | None = None,
    ) -> VideoStep:
        """Track ``changed`` tiles at time ``now`` and encode the video rectangle if due.

        ``enabled`` is False when the viewer did not list encoding 50 (any video ends);
        ``forced`` sends a video frame even if nothing in the rectangle changed; ``rate``
        caps the H.264 stream in bytes per second (None: no cap).
        """
        self._track(changed, now)
        exact = None
        if self.rect is not None and not enabled:
            exact = self._stop()
        elif self.rect is not None and (quality, rate) != (self._quality, self._rate):
            # The viewer's quality or the link's caps changed: a new stream, sent at once.
            self.close()
            self._quality, self._rate = quality, rate
        if not enabled:
            return VideoStep(b"", changed, exact)
        if self.rect is not None and (changed & self.mask).any():
            self._changed_at = now
        elif self.rect is not None and now - self._changed_at > limits.RFB_VIDEO_SETTLE:
            exact = self._stop()
        hot = self._hot(now)
        if self.rect is not None and int(np.count_nonzero(hot & ~self.mask)) >= _GROW_TILES:
            self._start(self._box(hot | self.mask), quality, rate, now)
        elif self.rect is None:
            box = self._box(hot) if np.count_nonzero(hot) >= limits.RFB_VIDEO_MIN_TILES else None
            if box is not None:
                self._start(box, quality, rate, now)
        if self.rect is None:
            return VideoStep(b"", changed, exact)
        inside = changed & self.mask
        if inside.any():
            self._changed_at = now
        rest = changed & ~self.mask
        if not (inside.any() or forced):
            return VideoStep(b"", rest, exact)
        return VideoStep(self._encode(frame, keys), rest, exact)

    def close(self) -> None:
        """Free the encoder."""
        if self._encoder is not None:
            self._encoder.close()
            self._encoder = None

    # --- internals ------------------------------------------------------------------------

    def _track(self, changed: Mask, now: float) -> None:
        restart = changed & (now - self._last > limits.RFB_VIDEO_GAP)
        self._since[restart] = now
        self._last[changed] = now

    def _hot(self, now: float) -> Mask:
        hot: Mask = (now - self._last <= limits.RFB_VIDEO_GAP) & (
            now - self._since >= limits.RFB_VIDEO_HOT_AFTER
        )
        return hot

    def _box(self, tiles: Mask) -> Rect | None:
        """The bounding box of ``tiles`` in pixels, if dense enough and encodable."""
        rows, cols = np.flatnonzero(tiles.any(axis=1)), np.flatnonzero(tiles.any(axis=0))
        if not rows.size:
            return None
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        if np.count_nonzero(tiles[r0:r1, c0:c1]) < _DENSITY * (r1 - r0) * (c1 - c0):
            return None
        if min(r1 - r0, c1 - c0) < _MIN_SIDE_TILES:
            return None  # a strip: the new line of a scrolling text, a progress bar
        view = self.view
        # H.264 4:2:0 needs even sizes: an odd screen edge keeps its last tile on the tile path.
        if c1 == view.cols and view.width % 2:
            c1 -= 1
        if r1 == view.rows and view.height % 2:
            r1 -= 1
        if c1 <= c0 or r1 <= r0:
            return None
        x, y = c0 * TILE, r0 * TILE
        rect = Rect(x, y, min(c1 * TILE, view.width) - x, min(r1 * TILE, view.height) - y)
        if rect.width * rect.height > limits.RFB_VIDEO_MAX_PIXELS:
            return None
        return rect

    def _start(
        self, rect: Rect | None, quality: int | None, rate: float | None, now: float
    ) -> None:
        if rect is None or rect == self.rect:
            return
        self.close()
        self.rect, self._quality, self._rate, self._changed_at = rect, quality, rate, now
        self.mask = self.view.region_mask(rect)
        self._encoder = None  # created by the first frame, which resets the viewer's decoder
        # Lossy tiles under the video need no refinement of their own: the video covers them.
        self.view.note_quality(rect, lossy=False)

    def _stop(self) -> Rect | None:
        rect, self.rect = self.rect, None
        self.mask = np.zeros_like(self.mask)
        self.close()
        return rect

    def _encode(self, frame: Frame, keys: Keys) -> bytes:
        r = self.rect
        assert r is not None
        reset = self._encoder is None
        if self._encoder is None:
            # PyAV and FFmpeg load only when a viewer first gets video (~20 MB, ~0.2 s).
            from tasuke.rfb.encoders.h264 import H264Encoder

            self._encoder = H264Encoder(
                r.width, r.height, quality=self._quality, max_rate=self._rate
            )
            self.streams += 1
        pixels = frame[r.y : r.y + r.height, r.x : r.x + r.width]
        body = self._encoder.rectangle_body(pixels, reset=reset)
        # Change detection goes on against the true pixels; the viewer's approximation is
        # replaced by an exact copy when the video stops.
        self.view.mark_sent(keys, [r])
        return _RECT.pack(r.x, r.y, r.width, r.height, c.ENC_H264) + body
