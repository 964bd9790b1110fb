"""ZRLE encoding (RFC 6143 section 7.7.6), for viewers without Tight.

A rectangle is cut into 64x64 tiles, left to right, top to bottom; each tile is one of:
solid (sub-encoding 1, one CPIXEL), packed palette (2..16 colours: the palette, then 1, 2 or 4
bits per pixel with every row padded to a byte), raw CPIXELs (0), plain RLE (128: runs of
a CPIXEL and a length) or palette RLE (130..255: up to 127 colours, then runs of an index
byte, its top bit set when a length follows). Runs go on across row ends. A length ``n`` is
sent as ``(n - 1) // 255`` bytes of 255 and one byte ``(n - 1) % 255``. Each tile takes the
smallest of the sub-encodings its colours allow, counted before zlib: fewer bytes in is
also less zlib time. The tiles of a rectangle are compressed by the connection's single
zlib stream and sent as a U32 length and the data.

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
PALETTE_RLE_MAX = 127
"""Most colours a palette-RLE tile may have (sub-encodings 130..255)."""
_RAW, _SOLID, _PLAIN_RLE, _PALETTE_RLE = 0, 1, 128, 128
_CHOSE_RAW, _CHOSE_PACKED, _CHOSE_PLAIN_RLE, _CHOSE_PALETTE_RLE = 0, 1, 2, 3
Ints = npt.NDArray[np.intp]
_RLE_GAIN = 2
"""RLE is used only where it at least halves a tile: zlib shrinks the runs in raw or packed
data well anyway, and every RLE tile costs Python time (measured on the 1080p desktops)."""
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
        x_end = rect.x + rect.width
        band = keys[y0:y1, rect.x : x_end]
        height, width = band.shape
        count = -(-width // ZRLE_TILE)
        padded = band
        if count * ZRLE_TILE != width:
            padded = np.pad(band, ((0, 0), (0, count * ZRLE_TILE - width)), mode="edge")
        tiles = padded.reshape(height, count, ZRLE_TILE).transpose(1, 0, 2).reshape(count, -1)
        row = _TileRow(tiles, pixel_format, cut, padded=padded is not band)
        widths = np.full(count, ZRLE_TILE)
        widths[-1] = width - (count - 1) * ZRLE_TILE
        choice = row.choose(height, widths)
        wire = None
        for i, sub in enumerate(choice.tolist()):
            x0 = rect.x + i * ZRLE_TILE
            x1 = x0 + int(widths[i])
            n = int(row.counts[i])
            palette = row.palette(i)
            if sub == _CHOSE_RAW:
                if wire is None:
                    wire = pixel_format.convert(frame[y0:y1, rect.x : x_end])[..., cut]
                out.append(_RAW)
                out += wire[:, x0 - rect.x : x1 - rect.x].tobytes()
            elif n == 1:
                out.append(_SOLID)
                out += palette
            elif sub == _CHOSE_PACKED:
                out.append(n)
                out += palette
                index = palette_indices(keys[y0:y1, x0:x1], row.colours_of(i))
                out += _pack(index, 1 if n == 2 else 2 if n <= 4 else 4)
            elif sub == _CHOSE_PLAIN_RLE:
                out.append(_PLAIN_RLE)
                out += row.plain_rle(i)
            else:
                out.append(_PALETTE_RLE + n)
                out += palette
                out += row.palette_rle(i)


class _TileRow:
    """The tiles of one tile row (as (count, pixels) keys, row after row): their colours,
    their runs (which go on across row ends), and the size of each sub-encoding."""

    def __init__(self, tiles: Keys, pixel_format: PixelFormat, cut: slice, *, padded: bool) -> None:
        self._tiles = tiles
        self._padded = padded
        self._cp = cut.stop - cut.start
        self._pixel_format, self._cut = pixel_format, cut
        ordered = np.sort(tiles, axis=1)
        new = np.ones(ordered.shape, dtype=np.bool_)
        np.not_equal(ordered[:, 1:], ordered[:, :-1], out=new[:, 1:])
        self.counts = np.count_nonzero(new, axis=1)
        # Palettes only of the tiles that may use one (a photo tile has thousands of colours).
        kept = np.where(self.counts <= PALETTE_RLE_MAX, self.counts, 0)
        new &= (kept > 0)[:, None]
        self._colours = ordered[new]  # those tiles' sorted colours, tile after tile
        self._colour_at = np.cumsum(kept) - kept
        self._kept = kept
        self._cpixels = _wire(self._colours, pixel_format, cut)
        self._runs = np.count_nonzero(tiles[:, 1:] != tiles[:, :-1], axis=1) + 1
        self._plain: tuple[npt.NDArray[np.uint8], Ints] | None = None
        self._indexed: tuple[npt.NDArray[np.uint8], Ints] | None = None

    def choose(self, height: int, widths: Ints) -> Ints:
        """The smallest sub-encoding of each tile: _CHOSE_RAW, _PACKED, _PLAIN_RLE, _PALETTE_RLE
        (solid tiles come out as packed; the caller tells them by their one colour)."""
        count, cp, n = len(widths), self._cp, self.counts
        sizes = np.full((4, count), np.inf)
        sizes[_CHOSE_RAW] = height * widths * cp
        bits = np.where(n <= 2, 1, np.where(n <= 4, 2, 4))
        packed = n * cp + height * -(-widths * bits // 8)
        sizes[_CHOSE_PACKED] = np.where(n <= PACKED_MAX, packed, np.inf)
        # A run costs at least a CPIXEL and a byte (plain) or a byte (palette): find the runs
        # only of tiles where RLE can win.
        best = sizes[:2].min(axis=0) / _RLE_GAIN
        maybe = (self._runs * (cp + 1) < best) | (
            (n <= PALETTE_RLE_MAX) & (n * cp + self._runs < best)
        )
        if self._padded:  # the padding lengthens runs of the last tile: no RLE there
            maybe[-1] = False
        candidates = np.flatnonzero(maybe)
        if candidates.size:
            tiles = self._tiles[candidates]
            starts = np.ones(tiles.shape, dtype=np.bool_)
            np.not_equal(tiles[:, 1:], tiles[:, :-1], out=starts[:, 1:])
            at = np.flatnonzero(starts)
            self._run_keys = tiles.ravel()[at]
            self._lengths = np.diff(np.append(at, tiles.size))
            self._tile_of = candidates[at // tiles.shape[1]]
            self._extra = (self._lengths - 1) // 255 + 1  # length bytes of each run
            plain = np.bincount(self._tile_of, cp + self._extra, minlength=count)
            long = (self._lengths > 1) * self._extra
            indexed = np.bincount(self._tile_of, 1 + long, minlength=count)
            sizes[_CHOSE_PLAIN_RLE, candidates] = plain[candidates] * _RLE_GAIN
            palette = n * cp + indexed
            fits = candidates[n[candidates] <= PALETTE_RLE_MAX]
            sizes[_CHOSE_PALETTE_RLE, fits] = palette[fits] * _RLE_GAIN
        choice: Ints = np.argmin(sizes, axis=0)
        self._choice = choice
        return choice

    def colours_of(self, tile: int) -> Keys:
        at = int(self._colour_at[tile])
        return self._colours[at : at + int(self.counts[tile])]

    def palette(self, tile: int) -> bytes:
        """The tile's colours as CPIXELs."""
        at = int(self._colour_at[tile])
        return bytes(self._cpixels[at : at + int(self.counts[tile])].tobytes())

    def plain_rle(self, tile: int) -> bytes:
        if self._plain is None:
            runs = (self._choice == _CHOSE_PLAIN_RLE)[self._tile_of]
            self._plain = _segments(
                _plain_rle(
                    _wire(self._run_keys[runs], self._pixel_format, self._cut),
                    self._lengths[runs],
                    self._extra[runs],
                ),
                self._tile_of[runs],
                self._cp + self._extra[runs],
            )
        return _segment(self._plain, tile)

    def palette_rle(self, tile: int) -> bytes:
        if self._indexed is None:
            runs = (self._choice == _CHOSE_PALETTE_RLE)[self._tile_of]
            tile_of = self._tile_of[runs]
            # Each run's index in its own tile's palette, for all tiles at once: search
            # (tile, colour) pairs among the palettes, which are sorted that way.
            palettes = (np.repeat(np.arange(len(self.counts)), self._kept).astype(np.uint64)
                        << np.uint64(32)) | self._colours  # fmt: skip
            wanted = (tile_of.astype(np.uint64) << np.uint64(32)) | self._run_keys[runs]
            index = (np.searchsorted(palettes, wanted) - self._colour_at[tile_of]).astype(np.uint8)
            lengths, extra = self._lengths[runs], self._extra[runs]
            self._indexed = _segments(
                _palette_rle(index, lengths, extra), tile_of, 1 + (lengths > 1) * extra
            )
        return _segment(self._indexed, tile)


def _segments(
    data: npt.NDArray[np.uint8], tile_of: Ints, sizes: Ints
) -> tuple[npt.NDArray[np.uint8], Ints]:
    """``data`` (runs of tiles in order) and where each tile's bytes start and end."""
    ends = np.zeros(int(tile_of.max()) + 2 if tile_of.size else 1, dtype=np.intp)
    np.add.at(ends, tile_of + 1, sizes)
    return data, np.cumsum(ends)


def _segment(segments: tuple[npt.NDArray[np.uint8], Ints], tile: int) -> bytes:
    data, bounds = segments
    return bytes(data[int(bounds[tile]) : int(bounds[tile + 1])].tobytes())


def _wire(colours: Keys, pixel_format: PixelFormat, cut: slice) -> npt.NDArray[np.uint8]:
    """Colour keys as (n, CPIXEL size) wire bytes."""
    bgrx = colours.astype("<u4").view(np.uint8).reshape(len(colours), 4)
    return pixel_format.convert(bgrx)[..., cut]


def _plain_rle(cpixels: npt.NDArray[np.uint8], lengths: Ints, extra: Ints) -> npt.NDArray[np.uint8]:
    """Each run as its CPIXEL and its length bytes."""
    cp = cpixels.shape[1]
    size = cp + extra
    start = np.cumsum(size) - size
    out = np.full(int(size.sum()), 255, dtype=np.uint8)
    out[start[:, None] + np.arange(cp)] = cpixels
    out[start + size - 1] = (lengths - 1) % 255
    return out


def _palette_rle(index: npt.NDArray[np.uint8], lengths: Ints, extra: Ints) -> npt.NDArray[np.uint8]:
    """Each run as its index byte (top bit: a length follows) and, for runs over one pixel,
    its length bytes."""
    long = lengths > 1
    size = 1 + long * extra
    start = np.cumsum(size) - size
    out = np.full(int(size.sum()), 255, dtype=np.uint8)
    out[start] = index | (long.astype(np.uint8) << 7)
    out[(start + size - 1)[long]] = ((lengths - 1) % 255)[long]
    return out
