"""Tight encoding (RFB encoding 7), server side.

Tight is described by the community RFB specification (rfbproto, "Tight Encoding"), not by
RFC 6143 itself. Each rectangle starts with a compression-control byte:

- ``0x80`` fill: one TPIXEL paints the whole rectangle;
- ``0x90`` JPEG: a compact length and a baseline JPEG image;
- ``0b0ifs0000`` basic: zlib stream ``s`` (0..3), with ``f`` set a filter-id byte follows
  (0 copy, 1 palette). Data under 12 bytes is sent as is; longer data is a compact length and
  the output of that stream, which persists for the whole connection (the viewer keeps four
  matching inflate streams, so each stream id must always carry the same deflate stream).

Per tile: one colour -> fill; up to :data:`PALETTE_MAX_LOSSY` colours (or any palette-sized
tile when the client did not ask for JPEG) -> palette; otherwise JPEG when the client sent a
quality level, else the copy filter. Lossless paths are exact.
"""

import zlib

import numpy as np
import simplejpeg

from tasuke.desktop.base import Frame
from tasuke.errors import LocalError
from tasuke.rfb.pixelformat import PixelFormat

__all__ = [
    "DEFAULT_ZLIB_LEVEL",
    "JPEG_QUALITY",
    "PALETTE_MAX",
    "PALETTE_MAX_LOSSY",
    "TightEncoder",
    "compact_length",
]

MIN_TO_COMPRESS = 12
"""Fixed by the Tight format: shorter data is sent without zlib and without a length."""
PALETTE_MAX = 256
"""A palette index is one byte."""
PALETTE_MAX_LOSSY = 64
"""With JPEG allowed, tiles with more colours than this count as photographic."""
DEFAULT_ZLIB_LEVEL = 1
"""zlib level when the client sends no compression-level pseudo-encoding: speed first."""
JPEG_QUALITY = (15, 25, 35, 45, 55, 65, 75, 82, 90, 95)
"""simplejpeg quality for client quality levels 0..9 (pseudo-encodings -32..-23)."""

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


class TightEncoder:
    """Encodes rectangles for one connection; owns that connection's zlib streams."""

    def __init__(self, zlib_level: int = DEFAULT_ZLIB_LEVEL) -> None:
        self._level = zlib_level
        self._streams: dict[int, zlib._Compress] = {}

    def set_zlib_level(self, level: int) -> None:
        """Use ``level`` for streams not started yet (a running deflate stream keeps its own)."""
        self._level = level

    def encode(self, pixels: Frame, pixel_format: PixelFormat, jpeg_level: int | None) -> bytes:
        """Return the Tight payload for one rectangle of B, G, R, X ``pixels``.

        ``jpeg_level`` is the client's quality level 0..9, or None when JPEG is not allowed.
        Rectangles must stay within Tight's limits (at most 2048 pixels wide); callers send tiles.
        """
        height, width = pixels.shape[:2]
        keys = pixels.view("<u4")[..., 0] & np.uint32(0x00FFFFFF)
        first = keys.flat[0]
        if bool((keys == first).all()):
            return bytes([_FILL]) + pixel_format.tpixels(pixels[:1, :1]).tobytes()
        jpeg_ok = jpeg_level is not None and pixel_format.tight_24
        colours, index = np.unique(keys, return_inverse=True)
        limit = PALETTE_MAX_LOSSY if jpeg_ok else PALETTE_MAX
        if len(colours) <= limit:
            return self._palette(colours, index.reshape(height, width), pixel_format)
        if jpeg_ok:
            assert jpeg_level is not None
            image: bytes = simplejpeg.encode_jpeg(
                pixels,
                quality=JPEG_QUALITY[jpeg_level],
                colorspace="BGRX",
                colorsubsampling="420" if jpeg_level < 8 else "444",
            )
            return bytes([_JPEG]) + compact_length(len(image)) + image
        data = pixel_format.tpixels(pixels).tobytes()
        return bytes([_STREAM_COPY << 4]) + self._compress(_STREAM_COPY, data)

    def _palette(self, colours: np.ndarray, index: np.ndarray, pixel_format: PixelFormat) -> bytes:
        bgrx = colours.astype("<u4").view(np.uint8).reshape(len(colours), 4)
        header = bytes([(_STREAM_PALETTE << 4) | _FILTER_FLAG, _FILTER_PALETTE, len(colours) - 1])
        palette = pixel_format.tpixels(bgrx).tobytes()
        if len(colours) == 2:
            data = np.packbits(index.astype(np.bool_), axis=1, bitorder="big").tobytes()
        else:
            data = index.astype(np.uint8).tobytes()
        return header + palette + self._compress(_STREAM_PALETTE, data)

    def _compress(self, stream_id: int, data: bytes) -> bytes:
        if len(data) < MIN_TO_COMPRESS:
            return data
        stream = self._streams.get(stream_id)
        if stream is None:
            stream = self._streams[stream_id] = zlib.compressobj(self._level)
        packed = stream.compress(data) + stream.flush(zlib.Z_SYNC_FLUSH)
        return compact_length(len(packed)) + packed
