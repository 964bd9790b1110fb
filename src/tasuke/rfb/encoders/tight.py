"""Tight encoding (RFB encoding 7), server side.

Tight is described by the community RFB specification (rfbproto, "Tight Encoding"), not by
RFC 6143 itself. Each rectangle starts with a compression-control byte:

- ``0x80`` fill: one TPIXEL paints the whole rectangle;
- ``0x90`` JPEG: a compact length and a baseline JPEG image;
- ``0b0ifs0000`` basic: zlib stream ``s`` (0..3), with ``f`` set a filter-id byte follows
  (0 copy, 1 palette). Data under 12 bytes is sent as is; longer data is a compact length and
  the output of that stream, which persists for the whole connection (the viewer keeps four
  matching inflate streams, so each stream id must always carry the same deflate stream).

Regions come classified from :mod:`tasuke.rfb.plan`: FILL -> fill; PALETTE (up to
:data:`PALETTE_MAX` colours) -> palette; PHOTO -> JPEG when the client sent a quality level,
else the copy filter. Lossless paths are exact.
"""

import dataclasses
import os
import threading
import zlib
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import simplejpeg

from tasuke.desktop.base import Frame
from tasuke.errors import LocalError
from tasuke.rfb.pixelformat import PixelFormat
from tasuke.rfb.plan import Kind, Region, palette_indices
from tasuke.rfb.tiles import Keys

__all__ = [
    "DEFAULT_ZLIB_LEVEL",
    "JPEG_QUALITY",
    "PALETTE_MAX",
    "REFINED_JPEG_LEVEL",
    "TightEncoder",
    "compact_length",
    "jpeg_payload",
    "split_photos",
]

MIN_TO_COMPRESS = 12
"""Fixed by the Tight format: shorter data is sent without zlib and without a length."""
PALETTE_MAX = 256
"""A palette index is one byte. Tiles with up to this many colours (text, antialiased text,
user interface, gradients) are sent exactly even when JPEG is allowed: palette + zlib is then
about as small as JPEG or smaller, and needs no sharper copy later. Only photographs (more
colours) are JPEG."""
DEFAULT_ZLIB_LEVEL = 1
"""zlib level when the client sends no compression-level pseudo-encoding: speed first."""
JPEG_QUALITY = (15, 25, 35, 45, 55, 65, 75, 82, 90, 95)
"""simplejpeg quality for client quality levels 0..9 (pseudo-encodings -32..-23)."""
REFINED_JPEG_LEVEL = 9
"""The level a still photographic tile is refined with (quality 95, no chroma subsampling)."""

JPEG_STRIP_PIXELS = 1 << 17
"""Photographic rectangles over this many pixels are cut into strips of about this size, which
are compressed on :data:`JPEG_THREADS` threads at once (libjpeg-turbo releases the GIL) while
this thread encodes the rest of the update."""
JPEG_THREADS = min(2, os.cpu_count() or 1)
"""Threads that compress JPEG strips, shared by all connections of the process."""
_STRIP_ROWS = 16
"""Strips start on multiples of this many rows of their rectangle: whole 4:2:0 MCUs."""

_STREAM_COPY = 0
_STREAM_PALETTE = 1
_FILL = 0x80
_JPEG = 0x90
_FILTER_FLAG = 0x40
_FILTER_PALETTE = 1
_MAX_COMPACT = (1 << 22) - 1


def compact_length(n: int) -> bytes:
    """Tight's 1-3 byte length: 7 bits per byte, high bit = more, the third byte has 8 bits."""
    if not 0 <= n <= _MAX_COMPACT:
        raise LocalError(f"length {n} does not fit Tight's compact representation")
    out = bytearray([n & 0x7F])
    if n > 0x7F:
        out[0] |= 0x80
        out.append((n >> 7) & 0x7F)
        if n > 0x3FFF:
            out[1] |= 0x80
            out.append((n >> 14) & 0xFF)
    return bytes(out)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _jpeg_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(JPEG_THREADS, thread_name_prefix="tasuke-jpeg")
        return _pool


def jpeg_payload(pixels: Frame, jpeg: int) -> bytes:
    """The Tight JPEG payload (control byte, compact length, image) of B, G, R, X ``pixels``
    at client quality level ``jpeg``. It needs no connection state: any thread may run it."""
    image: bytes = simplejpeg.encode_jpeg(
        pixels,
        quality=JPEG_QUALITY[jpeg],
        colorspace="BGRX",
        colorsubsampling="420" if jpeg < 8 else "444",
    )
    return bytes([_JPEG]) + compact_length(len(image)) + image


def split_photos(planned: list[tuple[Region, int | None]]) -> list[tuple[Region, int | None]]:
    """``planned`` with each photographic rectangle that will be a JPEG of over
    :data:`JPEG_STRIP_PIXELS` pixels cut into horizontal strips of about that size."""
    out: list[tuple[Region, int | None]] = []
    for region, jpeg in planned:
        r = region.rect
        strips = (r.width * r.height) // JPEG_STRIP_PIXELS
        if jpeg is None or region.kind is not Kind.PHOTO or strips < 2:
            out.append((region, jpeg))
            continue
        rows = -(-r.height // strips // _STRIP_ROWS) * _STRIP_ROWS
        for y in range(r.y, r.y + r.height, rows):
            part = dataclasses.replace(r, y=y, height=min(rows, r.y + r.height - y))
            out.append((dataclasses.replace(region, rect=part), jpeg))
    return out


class TightEncoder:
    """Encodes rectangles for one connection; owns that connection's zlib streams."""

    def __init__(self, zlib_level: int = DEFAULT_ZLIB_LEVEL) -> None:
        self._level = zlib_level
        self._streams: dict[int, zlib._Compress] = {}

    def set_zlib_level(self, level: int) -> None:
        """Use ``level`` for streams not started yet (a running deflate stream keeps its own)."""
        self._level = level

    def encode(
        self, frame: Frame, keys: Keys, region: Region, pixel_format: PixelFormat, jpeg: int | None
    ) -> bytes:
        """Return the Tight payload for one planned region of ``frame`` (B, G, R, X).

        ``keys`` are the frame's colour keys; ``jpeg`` is the client's quality level 0..9, or
        None when JPEG is not allowed. Regions are at most 2048 pixels wide (Tight's limit).
        """
        r = region.rect
        if region.kind is Kind.FILL:
            return bytes([_FILL]) + pixel_format.tpixels(_bgrx(region.colours)).tobytes()
        if region.kind is Kind.PALETTE:
            window = keys[r.y : r.y + r.height, r.x : r.x + r.width]
            return self._palette(window, region.colours, pixel_format)
        pixels = frame[r.y : r.y + r.height, r.x : r.x + r.width]
        if jpeg is not None and pixel_format.tight_24:
            return jpeg_payload(pixels, jpeg)
        data = pixel_format.tpixels(pixels).tobytes()
        return bytes([_STREAM_COPY << 4]) + self._compress(_STREAM_COPY, data)

    def encode_all(
        self,
        frame: Frame,
        keys: Keys,
        planned: list[tuple[Region, int | None]],
        pixel_format: PixelFormat,
    ) -> list[bytes]:
        """The payloads of :meth:`encode` for each (region, jpeg) in order; JPEG images of
        :data:`JPEG_STRIP_PIXELS` or more pixels are compressed on the shared JPEG threads
        meanwhile. ``frame`` must not change until this returns."""
        pending: dict[int, Future[bytes]] = {}
        if pixel_format.tight_24:
            big = [
                i
                for i, (region, jpeg) in enumerate(planned)
                if jpeg is not None
                and region.kind is Kind.PHOTO
                and region.rect.width * region.rect.height * 2 > JPEG_STRIP_PIXELS
            ]
            # This thread compresses one of them itself: a lone JPEG gains nothing from a
            # hand-over to another thread.
            for i in big[:-1]:
                region, level = planned[i]
                assert level is not None
                r = region.rect
                pixels = frame[r.y : r.y + r.height, r.x : r.x + r.width]
                pending[i] = _jpeg_pool().submit(jpeg_payload, pixels, level)
        out = []
        for i, (region, jpeg) in enumerate(planned):
            job = pending.get(i)
            if job is None:
                out.append(self.encode(frame, keys, region, pixel_format, jpeg))
            else:
                out.append(job.result())
        return out

    def _palette(self, window: Keys, colours: Keys, pixel_format: PixelFormat) -> bytes:
        header = bytes([(_STREAM_PALETTE << 4) | _FILTER_FLAG, _FILTER_PALETTE, len(colours) - 1])
        palette = pixel_format.tpixels(_bgrx(colours)).tobytes()
        if len(colours) == 2:
            data = np.packbits(window != colours[0], axis=1, bitorder="big").tobytes()
        else:
            data = palette_indices(window, colours).tobytes()
        return header + palette + self._compress(_STREAM_PALETTE, data)

    def _compress(self, stream_id: int, data: bytes) -> bytes:
        if len(data) < MIN_TO_COMPRESS:
            return data
        stream = self._streams.get(stream_id)
        if stream is None:
            stream = self._streams[stream_id] = zlib.compressobj(self._level)
        packed = stream.compress(data) + stream.flush(zlib.Z_SYNC_FLUSH)
        return compact_length(len(packed)) + packed


def _bgrx(colours: Keys) -> npt.NDArray[np.uint8]:
    """Colour keys as (n, 4) B, G, R, X pixels."""
    return colours.astype("<u4").view(np.uint8).reshape(len(colours), 4)
