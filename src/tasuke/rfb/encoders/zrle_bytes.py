"""Byte builders for ZRLE (RFC 6143 section 7.7.6), each for many tiles in one numpy pass.

Everything here starts from colour keys (uint32 ``B | G << 8 | R << 16``), so a tile's
CPIXELs, its palette and its runs all come from the one array the caller already holds.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tasuke.rfb.pixelformat import PixelFormat
from tasuke.rfb.tiles import Keys

__all__ = [
    "Bytes",
    "Ints",
    "Wire",
    "extra_length_bytes",
    "pack_indices",
    "palette_rle",
    "plain_rle",
]

Ints = npt.NDArray[np.intp]
Bytes = npt.NDArray[np.uint8]
_BYTE = np.uint32(0xFF)


@dataclass(frozen=True, slots=True)
class Wire:
    """How colour keys become CPIXELs for one pixel format.

    A CPIXEL is the wire pixel, except that a 32-bit format of depth <= 24 whose colour bits
    all lie in the low (or high) three bytes sends only those three bytes.
    """

    pixel_format: PixelFormat
    size: int
    """Bytes per CPIXEL."""
    high: bool
    """A 3-byte CPIXEL holds the high three bytes of the pixel value (else the low three)."""

    @classmethod
    def of(cls, pixel_format: PixelFormat) -> "Wire":
        """The CPIXEL layout of ``pixel_format``."""
        pf = pixel_format
        size = pf.bytes_per_pixel
        if pf.bits_per_pixel != 32 or pf.depth > 24:
            return cls(pf, size, high=False)
        bits = (pf.red_max << pf.red_shift) | (pf.green_max << pf.green_shift)
        bits |= pf.blue_max << pf.blue_shift
        if bits < (1 << 24):
            return cls(pf, 3, high=False)
        if bits & 0xFF == 0:
            return cls(pf, 3, high=True)
        return cls(pf, size, high=False)

    def values(self, keys: Keys) -> Keys:
        """Pixel values (as integers) of ``keys``, scaled as PixelFormat.convert scales them."""
        pf = self.pixel_format
        if (pf.red_max, pf.green_max, pf.blue_max) == (255, 255, 255) and (
            pf.red_shift,
            pf.green_shift,
            pf.blue_shift,
        ) == (16, 8, 0):
            return keys  # the key already is the pixel value
        value = np.zeros(keys.shape, dtype=np.uint32)
        for offset, cmax, shift in (
            (16, pf.red_max, pf.red_shift),
            (8, pf.green_max, pf.green_shift),
            (0, pf.blue_max, pf.blue_shift),
        ):
            channel = (keys >> np.uint32(offset)) & _BYTE
            if cmax != 255:
                channel = (channel * np.uint32(cmax) + np.uint32(127)) // np.uint32(255)
            value |= channel << np.uint32(shift)
        return value

    def cpixels(self, keys: Keys) -> Bytes:
        """``keys`` (any shape) as CPIXEL bytes, one after another, in a flat uint8 array."""
        if self.size == 3:
            return _three_bytes(self.words24(keys.ravel()))
        dtype = f"{'>' if self.pixel_format.big_endian else '<'}u{self.size}"
        out: Bytes = self.values(keys).ravel().astype(dtype).view(np.uint8)
        return out

    def words24(self, keys: Keys) -> Keys:
        """For 3-byte CPIXELs: values whose three low bytes, little-endian, are the CPIXEL."""
        value = self.values(keys)
        if self.high:
            value = value >> np.uint32(8)
        if self.pixel_format.big_endian:  # the same three bytes, most significant first
            value = (
                ((value & _BYTE) << np.uint32(16))
                | (value & np.uint32(0xFF00))
                | ((value >> np.uint32(16)) & _BYTE)
            )
        return value


def _three_bytes(value: Keys) -> Bytes:
    """The low three bytes of each value, little-endian: four values make three words, which
    is several times faster than copying a 3-of-4-byte strided view."""
    count = len(value)
    if count % 4:
        value = np.concatenate([value, np.zeros(4 - count % 4, dtype=np.uint32)])
    v = value.reshape(-1, 4)
    words = np.empty((len(v), 3), dtype="<u4")
    np.bitwise_or(v[:, 0], v[:, 1] << np.uint32(24), out=words[:, 0])
    np.bitwise_or(v[:, 1] >> np.uint32(8), v[:, 2] << np.uint32(16), out=words[:, 1])
    np.bitwise_or(v[:, 2] >> np.uint32(16), v[:, 3] << np.uint32(8), out=words[:, 2])
    out: Bytes = words.view(np.uint8).ravel()[: count * 3]
    return out


def pack_indices(index: Bytes, bits: int) -> Bytes:
    """Pack (tiles, height, width) palette indices ``bits`` wide, most significant first,
    each row padded to a byte; returns (tiles, packed bytes of one tile)."""
    tiles, height, width = index.shape
    per_byte = 8 // bits
    padded = -(-width // per_byte) * per_byte
    if padded != width:
        index = np.pad(index, ((0, 0), (0, 0), (0, padded - width)))
    groups = index.reshape(tiles, height, padded // per_byte, per_byte)
    out = np.zeros(groups.shape[:3], dtype=np.uint8)
    for i in range(per_byte):
        out |= groups[..., i] << np.uint8(8 - bits * (i + 1))
    return out.reshape(tiles, -1)


def _length_bytes(lengths: Ints) -> tuple[Bytes, Ints, Ints]:
    """The last byte of each run's length, the runs over 255 pixels (which take more than
    one byte), and how many bytes of 255 each of those puts first. Division only for those:
    on all runs it costs more than the rest of the work."""
    last = (lengths - 1).astype(np.uint8)
    big = np.flatnonzero(lengths > 255)
    more = (lengths[big] - 1) // 255
    last[big] = (lengths[big] - 1 - more * 255).astype(np.uint8)
    return last, big, more


def extra_length_bytes(lengths: Ints, tile_of: Ints, count: int) -> Ints:
    """How many bytes of 255 the runs of each of ``count`` tiles need (``tile_of``)."""
    big = np.flatnonzero(lengths > 255)
    out: Ints = np.bincount(tile_of[big], (lengths[big] - 1) // 255, minlength=count).astype(
        np.intp
    )
    return out


def plain_rle(wire: Wire, keys: Keys, lengths: Ints) -> Bytes:
    """Runs (colour ``keys``) as a CPIXEL and the length bytes, one run after another."""
    cp = wire.size
    last, big, more = _length_bytes(lengths)
    if cp == 3:  # one little-endian word a run: three CPIXEL bytes, then the length
        words = wire.words24(keys) | (last.astype(np.uint32) << np.uint32(24))
        out: Bytes = words.astype("<u4", copy=False).view(np.uint8)
    else:
        rows = np.empty((len(keys), cp + 1), dtype=np.uint8)
        rows[:, :cp] = wire.cpixels(keys).reshape(-1, cp)
        rows[:, cp] = last
        out = rows.ravel()
    if big.size:
        out = np.insert(out, np.repeat(big * (cp + 1) + cp, more), np.uint8(255))
    return out


def palette_rle(index: Bytes, lengths: Ints) -> Bytes:
    """Runs as a palette index byte (top bit set when a length follows, as it does for any
    run longer than one pixel) and the length bytes."""
    long = lengths > 1
    last, big, more = _length_bytes(lengths)
    rows = np.empty((len(index), 2), dtype=np.uint8)
    rows[:, 0] = index | (long.view(np.uint8) << np.uint8(7))
    rows[:, 1] = last
    keep = np.ones(rows.shape, dtype=np.bool_)
    keep[:, 1] = long
    out: Bytes = rows[keep]
    if big.size:
        # A run's length byte comes after the index bytes of all runs so far and the
        # length bytes of the long runs before it.
        before: Ints = np.cumsum(long) - long
        out = np.insert(out, np.repeat(big + before[big] + 1, more), np.uint8(255))
    return out
