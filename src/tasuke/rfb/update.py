"""The picture side of one RFB connection: what the client holds, and the bytes of updates.

:class:`Picture` keeps the per-client state that encoding needs (the tiles the client holds,
the Tight and ZRLE compressors whose zlib streams live as long as the connection, the video
mode and the last cursor shape sent) and turns a captured frame into the rectangles of one
FramebufferUpdate: CopyRect for scrolled content, H.264 for a busy region, then Tight, ZRLE
or Raw for the changed tiles, and exact refreshes of what was sent approximately.
"""

import dataclasses
import struct
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from tasuke import limits
from tasuke.desktop.base import Cursor, Frame
from tasuke.rfb import constants as c
from tasuke.rfb.encoders.cursor import encode_cursor
from tasuke.rfb.encoders.raw import encode_raw
from tasuke.rfb.encoders.tight import (
    PALETTE_MAX,
    REFINED_JPEG_LEVEL,
    TightEncoder,
    split_photos,
)
from tasuke.rfb.encoders.zrle import ZRLEEncoder
from tasuke.rfb.job import UpdateJob, raw_regions
from tasuke.rfb.plan import Kind, Region, classify, plan_regions
from tasuke.rfb.scroll import find_vertical_shift
from tasuke.rfb.tiles import ClientView, Keys, Rect
from tasuke.rfb.video import VideoMode

__all__ = ["RECT", "Picture", "update_header"]

RECT = struct.Struct(">HHHHi")
"""A rectangle header: x, y, width, height, encoding."""
_UPDATE = struct.Struct(">BxH")
_MAX_RECTS = 0xFFFF
_SMALL_UPDATE_TILES = 8
"""Up to this many changed tiles, each is cut to the bounding box of what changed in it."""
_SCROLL_MISSES = 3
"""After this many updates in a row without a scroll found (a video, a slideshow), the search
runs only every _SCROLL_RETRY updates until it finds one: a scroll that starts then is sent
as tiles for at most that many updates, and a busy screen saves the search."""
_SCROLL_RETRY = 4


def update_header(rectangles: int) -> bytes:
    """The FramebufferUpdate message header for ``rectangles`` rectangles."""
    return _UPDATE.pack(c.MSG_FRAMEBUFFER_UPDATE, rectangles)


class Picture:
    """What one client's framebuffer holds, and the encoders that update it.

    Used from one thread at a time (the screen worker), apart from :attr:`refresh_pending`.
    """

    def __init__(
        self, width: int, height: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._tight = TightEncoder()
        self._zrle = ZRLEEncoder()
        self._cursor_serial: int | None = None
        self._view = ClientView(width, height)
        self._video = VideoMode(self._view)
        self._scroll_misses = 0

    def resize(self, width: int, height: int) -> None:
        """Forget the picture (the client's next update is all new); the zlib streams stay."""
        self._video.close()
        self._view = ClientView(width, height)
        self._video = VideoMode(self._view)

    def close(self) -> None:
        """Free the H.264 encoder, if any (idempotent)."""
        self._video.close()

    def set_zlib_level(self, level: int) -> None:
        """The Tight compression level for zlib streams not yet started."""
        self._tight.set_zlib_level(level)

    @property
    def refresh_pending(self) -> bool:
        """True while the client holds approximations (JPEG tiles, an H.264 region) that a
        still screen will replace, so polls must run the encoder even when nothing was drawn."""
        return self._video.active or self._view.lossy_pending

    def encode(
        self,
        job: UpdateJob,
        frame: Frame,
        cursor: Cursor | None,
        damage: npt.NDArray[np.bool_] | None,
        *,
        clean: bool = False,
    ) -> bytes | None:
        """The FramebufferUpdate for ``job`` from a frame of the client's size, or None when
        nothing the client asked about changed (see :meth:`RFBServer.encode_update`)."""
        view = self._view
        now = self._clock()
        keys = view.keys(frame, damage, clean=clean)
        area = view.region_mask(job.region)
        changed = view.dirty_tiles(keys, damage) & area
        copy = b""
        if (
            job.copyrect
            and job.full is None
            and not self._video.active
            and np.count_nonzero(changed) > _SMALL_UPDATE_TILES
        ):
            # Before video mode looks at what changed: scrolled text stays sharp as CopyRect
            # and only the newly shown rows count as change.
            copy, changed = self._copy_scrolled(keys, changed, job.region)
        video = self._video.step(
            job.h264, job.jpeg, frame, keys, changed, now, forced=job.full is not None,
            rate=job.video_rate,
        )  # fmt: skip
        dirty = video.dirty
        if job.full is not None:
            dirty |= view.region_mask(job.full) & area & ~self._video.mask
        exact_tiles = None
        if video.exact is not None:
            # Back from video: everything the video covered is sent exactly, once.
            exact_tiles = view.region_mask(video.exact) & area
            dirty &= ~exact_tiles
        lossy = job.jpeg is not None and job.pixel_format.tight_24
        if job.encoding != c.ENC_TIGHT and view.lossy_pending:
            # JPEG tiles left from a time the viewer used Tight are sent exactly now: only
            # Tight refines them.
            dirty |= view.lossy_tiles() & area
        if int(np.count_nonzero(dirty)) <= _SMALL_UPDATE_TILES:
            # Few tiles: send only the changed pixels' bounding box of each.
            boxes = [b.intersect(job.region) for b in view.changed_boxes(dirty)]
            regions = [classify(keys, b, PALETTE_MAX) for b in boxes if b is not None]
        elif job.encoding == c.ENC_TIGHT:
            regions = plan_regions(keys, view, dirty, job.region, PALETTE_MAX)
            if job.full is None:
                # Only what changed inside each merged rectangle is sent.
                regions = [dataclasses.replace(r, rect=view.crop(r.rect)) for r in regions]
        else:
            regions = raw_regions(view, dirty, job.region)
        refresh: list[Region] = []
        if job.encoding == c.ENC_TIGHT:
            # Photographs sent as JPEG that have been still for a while are sent again at the
            # best quality (not sooner: a picture replaced within the second, a slideshow,
            # would cost twice).
            ready = view.age_lossy(dirty, now, limits.RFB_LOSSLESS_REFRESH_AFTER)
            ready &= view.region_mask(job.region)
            if ready.any():
                refresh = plan_regions(keys, view, ready, job.region, PALETTE_MAX)
        exact: list[Region] = []
        if exact_tiles is not None and job.encoding == c.ENC_TIGHT:
            exact = plan_regions(keys, view, exact_tiles, job.region, PALETTE_MAX)
        elif exact_tiles is not None:
            exact = raw_regions(view, exact_tiles, job.region)
        send_cursor = cursor is not None and job.cursor and cursor.serial != self._cursor_serial
        if not (regions or refresh or send_cursor or copy or video.rectangle or exact):
            return None
        body = bytearray()
        count = 0
        if send_cursor:
            assert cursor is not None
            ch, cw = cursor.pixels.shape[:2]
            body += RECT.pack(cursor.hot_x, cursor.hot_y, cw, ch, c.ENC_CURSOR)
            body += encode_cursor(cursor, job.pixel_format)
            self._cursor_serial = cursor.serial
            count += 1
        if copy:  # first, so that its source is what the client had before this update
            body += copy
            count += 1
        if video.rectangle:
            body += video.rectangle
            count += 1
        planned = [(region, job.jpeg) for region in regions]
        planned += [(region, None) for region in exact]
        # A refresh is exact where a palette fits (text); true photos get the best JPEG,
        # which is a tenth of their exact size and looks the same.
        refined = REFINED_JPEG_LEVEL if lossy else None
        planned += [(region, refined) for region in refresh]
        planned = planned[: _MAX_RECTS - count]
        sent = len(planned)
        if job.encoding == c.ENC_TIGHT:
            # Large JPEGs go out as strips compressed in parallel; what the client holds is
            # recorded for the planned rectangles, whose edges are tile edges.
            pieces = split_photos(planned) if lossy else planned
            if count + len(pieces) > _MAX_RECTS:
                pieces = planned
            payloads = self._tight.encode_all(frame, keys, pieces, job.pixel_format)
            for (region, _), payload in zip(pieces, payloads, strict=True):
                r = region.rect
                body += RECT.pack(r.x, r.y, r.width, r.height, job.encoding) + payload
            for region, jpeg in planned:
                approximate = jpeg is not None and jpeg < REFINED_JPEG_LEVEL
                photo = region.kind is Kind.PHOTO
                view.note_quality(region.rect, lossy=lossy and approximate and photo)
            sent = len(pieces)
        for region, _ in planned if job.encoding != c.ENC_TIGHT else ():
            r = region.rect
            body += RECT.pack(r.x, r.y, r.width, r.height, job.encoding)
            if job.encoding == c.ENC_ZRLE:
                body += self._zrle.encode(frame, keys, r, job.pixel_format)
            else:
                pixels = frame[r.y : r.y + r.height, r.x : r.x + r.width]
                body += encode_raw(pixels, job.pixel_format)
            view.note_quality(r, lossy=False)
        view.mark_sent(keys, [region.rect for region, _ in planned])
        return update_header(count + sent) + bytes(body)

    def _copy_scrolled(
        self, keys: Keys, dirty: npt.NDArray[np.bool_], region: Rect
    ) -> tuple[bytes, npt.NDArray[np.bool_]]:
        """A CopyRect for content that moved vertically, and the tiles still to send."""
        view = self._view
        misses = self._scroll_misses
        if misses >= _SCROLL_MISSES and (misses - _SCROLL_MISSES) % _SCROLL_RETRY:
            self._scroll_misses += 1
            return b"", dirty
        area = view.changed_extent()
        area = None if area is None else area.intersect(region)
        shift = None if area is None else find_vertical_shift(keys, view, area)
        if shift is None:
            self._scroll_misses += 1
            return b"", dirty
        self._scroll_misses = 0
        d = shift.dest
        copy = RECT.pack(d.x, d.y, d.width, d.height, c.ENC_COPYRECT)
        copy += struct.pack(">HH", d.x, shift.source_y)
        view.copy_within(shift.source_y, d)
        # Only the changed tiles and those the copy wrote to can differ now, and not the
        # ones it covers whole (the copy was checked pixel for pixel): compare just the rest.
        again = (dirty | view.region_mask(d)) & ~view.covered_mask(d)
        return copy, view.dirty_tiles(keys, again) & view.region_mask(region)
