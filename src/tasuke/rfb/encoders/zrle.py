"""ZRLE encoding (RFC 6143 section 7.7.6), for viewers without Tight.

A rectangle is cut into 64x64 tiles, left to right, top to bottom; each tile is one of:
solid (sub-encoding 1, one CPIXEL), packed palette (2..16 colours: the palette, then 1, 2 or 4
bits per pixel with every row padded to a byte) or raw CPIXELs (0). The tiles of a rectangle
are compressed by the connection's single zlib stream and sent as a U32 length and the data.

A CPIXEL is a PIXEL, except that a 32-bit true-colour format of depth <= 24 whose colour bits
all lie in the low or the high three bytes sends only those three bytes.

Tiles of one tile row are classified together with one sort, as in :mod:`tasuke.rfb.plan`.
"""

import struct
import zlib

import numpy as np
import numpy.typing as npt

from tasuke.desktop.base import Frame
from tasuke.rfb.pixelformat import PixelFormat
from tasuke.rfb.plan import palette_indices
from tasuke.rfb.tiles import Keys, Rect

__all__ = ["ZRLE_TILE", "ZRLEEncoder", "cpixel_slice"]

ZRLE_TILE = 64
PACKED_MAX = 16
"""Most colours a packed-palette tile may have (sub-encodings 2..16)."""
_RAW, _SOLID = 0, 1
_LENGTH = struct.Struct(">I")


def cpixel_slice(pixel_format: PixelFormat) -> slice:
    """Which bytes of each wire pixel make its CPIXEL."""
    size = pixel_format.bytes_per_pixel
    pf = pixel_format
    if pf.bits_per_pixel != 32 or pf.depth > 24:
        return slice(0, size)
    bits = (pf.red_max << pf.red_shift) | (pf.green_max << pf.green_shift)
    bits |= pf.blue_max << pf.blue_shift
    low = bits < (1 << 24)
    high = bits & 0xFF == 0
    if not (low or high):
        return slice(0, size)
    # Little-endian wire pixels hold the low byte first; big-endian the high byte.
    if low:
        return slice(1, 4) if pf.big_endian else slice(0, 3)
    return slice(0, 3) if pf.big_endian else slice(1, 4)


def _pack(index: npt.NDArray[np.uint8], bits: int) -> bytes:
    """Pack palette indices ``bits`` wide, most significant first, rows padded to a byte."""
    height, width = index.shape
    per_byte = 8 // bits
    padded = -(-width // per_byte) * per_byte
    if padded != width:
        index = np.pad(index, ((0, 0), (0, padded - width)))
    groups = index.reshape(height, padded // per_byte, per_byte).astype(np.uint8)
    shifts = np.arange(8 - bits, -1, -bits, dtype=np.uint8)
    packed = np.bitwise_or.reduce(groups << shifts, axis=2).astype(np.uint8)
    return bytes(packed.tobytes())


class ZRLEEncoder:
    """Encodes rectangles for one connection; owns its zlib stream."""

    def __init__(self, zlib_level: int = 1) -> None:
        self._stream = zlib.compressobj(zlib_level)

    def encode(self, frame: Frame, keys: Keys, rect: Rect, pixel_format: PixelFormat) -> bytes:
        """Return the ZRLE payload (length and zlib data) for ``rect`` of ``frame``."""
        cut = cpixel_slice(pixel_format)
        out = bytearray()
        for y in range(rect.y, rect.y + rect.height, ZRLE_TILE):
            y1 = min(y + ZRLE_TILE, rect.y + rect.height)
            self._tile_row(frame, keys, rect, y, y1, pixel_format, cut, out)
        packed = self._stream.compress(bytes(out)) + self._stream.flush(zlib.Z_SYNC_FLUSH)
        return _LENGTH.pack(len(packed)) + packed

    def _tile_row(
        self,
        frame: Frame,
        keys: Keys,
        rect: Rect,
        y0: int,
        y1: int,
        pixel_format: PixelFormat,
        cut: slice,
        out: bytearray,
    ) -> None:
        band = keys[y0:y1, rect.x : rect.x + rect.width]
        height, width = band.shape
        count = -(-width // ZRLE_TILE)
        padded = band
        if count * ZRLE_TILE != width:
            padded = np.pad(band, ((0, 0), (0, count * ZRLE_TILE - width)), mode="edge")
        tiles = padded.reshape(height, count, ZRLE_TILE).transpose(1, 0, 2).reshape(count, -1)
        ordered = np.sort(tiles, axis=1)
        starts = np.ones(ordered.shape, dtype=np.bool_)
        starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
        counts = starts.sum(axis=1).tolist()
        for i, n in enumerate(counts):
            x0 = rect.x + i * ZRLE_TILE
            x1 = min(x0 + ZRLE_TILE, rect.x + rect.width)
            if n == 1:
                colour = frame[y0 : y0 + 1, x0 : x0 + 1]
                out.append(_SOLID)
                out += pixel_format.convert(colour)[..., cut].tobytes()
            elif n <= PACKED_MAX:
                colours = ordered[i][starts[i]]
                bgrx = colours.astype("<u4").view(np.uint8).reshape(n, 4)
                out.append(n)
                out += pixel_format.convert(bgrx)[..., cut].tobytes()
                window = keys[y0:y1, x0:x1]
                index = palette_indices(window, colours)
                out += _pack(index, 1 if n == 2 else 2 if n <= 4 else 4)
            else:
                out.append(_RAW)
                out += pixel_format.convert(frame[y0:y1, x0:x1])[..., cut].tobytes()
