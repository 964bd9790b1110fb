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

All tiles of a tile row are measured, chosen and turned into bytes together with numpy
(:class:`_TileRow`); Python only strings the finished pieces together, so the cost of a
rectangle hardly grows with its number of tiles. Every 8th pixel is looked at first: a
photographic tile shows too many colours and runs in that sample for anything but raw, and is
neither sorted nor searched for runs. A rectangle one tile wide (a small change) takes a
shorter path with fewer numpy calls. The pixels come from the colour keys, so no pass over the
frame itself is needed; the deflate stream is zlib-ng's (see :data:`ZLIB_LEVEL`).
"""

import struct

import numpy as np
import numpy.typing as npt
from zlib_ng import zlib_ng

from tasuke.desktop.base import Frame
from tasuke.rfb.encoders.zrle_bytes import (
    Bytes,
    Ints,
    Wire,
    extra_length_bytes,
    pack_indices,
    palette_rle,
    plain_rle,
)
from tasuke.rfb.pixelformat import PixelFormat
from tasuke.rfb.tiles import Keys, Rect

__all__ = [
    "PACKED_MAX",
    "PALETTE_RLE_MAX",
    "ZLIB_LEVEL",
    "ZLIB_WINDOW_BITS",
    "ZRLE_TILE",
    "ZRLEEncoder",
]

ZRLE_TILE = 64
PACKED_MAX = 16
"""Most colours a packed-palette tile may have (sub-encodings 2..16)."""
PALETTE_RLE_MAX = 127
"""Most colours a palette-RLE tile may have (sub-encodings 130..255)."""
_RAW, _SOLID, _PLAIN_RLE, _PALETTE_RLE = 0, 1, 128, 128
_CHOSE_RAW, _CHOSE_PACKED, _CHOSE_PLAIN_RLE, _CHOSE_PALETTE_RLE = 0, 1, 2, 3
_RLE_GAIN = 2
"""RLE is used only where it at least halves a tile: zlib shrinks the runs in raw or packed
data well anyway (measured on the 1080p desktops)."""
ZLIB_LEVEL = 4
ZLIB_WINDOW_BITS = 14
"""zlib-ng at level 4 with a 16 KiB window compresses these tiles smaller than zlib's level 1
with the full 32 KiB window, in about half the time: on photographic tiles a long window
mostly lengthens the search for matches that are not there (measured on the 1080p desktops,
see docs/benchmarks.md). Inflaters accept any window up to 32 KiB."""
_SAMPLE = 8
"""One pixel in this many is looked at first, to find photographic tiles without a full sort."""
_LENGTH = struct.Struct(">I")
_RAW_BYTE, _SOLID_BYTE = bytes([_RAW]), bytes([_SOLID])


class ZRLEEncoder:
    """Encodes rectangles for one connection; owns its zlib stream."""

    def __init__(self, zlib_level: int = ZLIB_LEVEL) -> None:
        self._stream = zlib_ng.compressobj(zlib_level, zlib_ng.DEFLATED, ZLIB_WINDOW_BITS)
        self._wire: Wire | None = None

    def encode(self, frame: Frame, keys: Keys, rect: Rect, pixel_format: PixelFormat) -> bytes:
        """Return the ZRLE payload (length and zlib data) for ``rect`` of ``frame``.

        The pixels are taken from ``keys`` (the colour keys of ``frame``), which hold the same
        colours in one uint32 each.
        """
        del frame  # the keys hold the same colours
        wire = self._wire
        if wire is None or wire.pixel_format != pixel_format:
            wire = self._wire = Wire.of(pixel_format)
        pieces: list[bytes | memoryview] = []
        bottom, right = rect.y + rect.height, rect.x + rect.width
        for y in range(rect.y, bottom, ZRLE_TILE):
            band = keys[y : min(y + ZRLE_TILE, bottom), rect.x : right]
            if rect.width <= ZRLE_TILE:
                _one_tile(band, wire, pieces)  # a small change: fewer numpy calls
            else:
                _TileRow(band, wire).emit(pieces)
        packed = self._stream.compress(b"".join(pieces))
        packed += self._stream.flush(zlib_ng.Z_SYNC_FLUSH)
        return _LENGTH.pack(len(packed)) + packed


class _TileRow:
    """One row of tiles: their colours, their runs (which go on across row ends), the
    smallest sub-encoding of each, and then their bytes."""

    def __init__(self, band: Keys, wire: Wire) -> None:
        height, width = band.shape
        count = -(-width // ZRLE_TILE)
        full = width // ZRLE_TILE
        tiles = np.empty((count, height, ZRLE_TILE), dtype=np.uint32)
        tiles[:full] = band[:, : full * ZRLE_TILE].reshape(height, full, ZRLE_TILE).swapaxes(0, 1)
        self._partial = full < count
        if self._partial:
            # Repeating the last column adds no colour, and no run: a row's copies continue
            # its last run, and the next row compares with the same last pixel as before.
            rest = width - full * ZRLE_TILE
            tiles[full, :, :rest] = band[:, full * ZRLE_TILE :]
            tiles[full, :, rest:] = band[:, -1:]
        self._band, self._tiles, self._wire = band, tiles, wire
        self._height, self._count = height, count
        self.widths: Ints = np.full(count, ZRLE_TILE, dtype=np.intp)
        self.widths[-1] = width - (count - 1) * ZRLE_TILE
        flat = tiles.reshape(count, -1)
        self._flat = flat
        # Tiles not known to be raw after a look at every 8th pixel get their colours and
        # runs counted in full; the rest are taken to have more of both than any other
        # sub-encoding could use.
        self.counts: Ints = np.full(count, PALETTE_RLE_MAX + 1, dtype=np.intp)
        self._runs: Ints = self.widths * height
        self._kept: Ints = np.zeros(count, dtype=np.intp)
        unsure = self._unsure(flat[:, ::_SAMPLE])
        subset = flat if unsure.size == count else flat[unsure]
        self._subset, self._unsure_tiles = subset, unsure
        ordered = np.sort(subset, axis=1)
        new = _starts(ordered)
        counts = _row_counts(new)
        self.counts[unsure] = counts
        # Palettes only of the tiles that may use one.
        kept = np.where(counts <= PALETTE_RLE_MAX, counts, 0)
        new &= (kept > 0)[:, None]
        self._kept[unsure] = kept
        self._colours: Keys = ordered[new]  # those tiles' sorted colours, tile after tile
        self._colour_at: Ints = np.cumsum(self._kept) - self._kept
        self._first = _starts(subset)  # where a run starts, tile by tile
        self._runs[unsure] = _row_counts(self._first)

    def _unsure(self, sample: Keys) -> Ints:
        """The tiles that a sample of their pixels does not show to be raw.

        A sample has at most the colours of its tile, and at most its runs (two sampled
        neighbours that differ have a run start between them): if even those counts rule out
        every other sub-encoding (as :meth:`choose` measures them), the tile is raw.
        """
        colours = _row_counts(_starts(np.sort(sample, axis=1)))
        runs = _row_counts(_starts(sample))
        cp = self._wire.size
        half = self.widths * self._height * cp / _RLE_GAIN
        raw = (colours > PACKED_MAX) & (runs * (cp + 1) >= half)
        raw &= (colours > PALETTE_RLE_MAX) | (colours * cp + runs >= half)
        unsure: Ints = np.flatnonzero(~raw)
        return unsure

    def pixels(self, which: Ints) -> tuple[Keys, Ints]:
        """The true pixels (no padding) of tiles ``which`` (ascending), one tile after another,
        and where each tile starts among them."""
        sizes = self.widths[which] * self._height
        starts: Ints = np.cumsum(sizes) - sizes
        if len(which) == self._count and not self._partial:
            return self._flat.ravel(), starts
        if self._partial and len(which) and which[-1] == self._count - 1:
            rest = self._band[:, (self._count - 1) * ZRLE_TILE :].ravel()
            return np.concatenate([self._flat[which[:-1]].ravel(), rest]), starts
        return self._flat[which].ravel(), starts

    def choose(self) -> Ints:
        """The smallest sub-encoding of each tile: _CHOSE_RAW, _PACKED, _PLAIN_RLE, _PALETTE_RLE
        (solid tiles come out as packed; they are told by their one colour)."""
        count, cp, n, widths = self._count, self._wire.size, self.counts, self.widths
        height = self._height
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
        candidates = np.flatnonzero(maybe)
        if candidates.size:
            self._find_runs(candidates)
            runs = np.bincount(self._tile_of, minlength=count)
            more = extra_length_bytes(self._lengths, self._tile_of, count)
            plain = runs * (cp + 1) + more
            single = np.bincount(self._tile_of[self._lengths == 1], minlength=count)
            indexed = runs * 2 - single + more
            self._sizes = {_CHOSE_PLAIN_RLE: plain, _CHOSE_PALETTE_RLE: n * cp + indexed}
            sizes[_CHOSE_PLAIN_RLE, candidates] = plain[candidates] * _RLE_GAIN
            fits = candidates[n[candidates] <= PALETTE_RLE_MAX]
            sizes[_CHOSE_PALETTE_RLE, fits] = self._sizes[_CHOSE_PALETTE_RLE][fits] * _RLE_GAIN
        choice: Ints = np.argmin(sizes, axis=0)
        choice[n == 1] = _CHOSE_PACKED  # solid: never larger than raw, even for one pixel
        return choice

    def _find_runs(self, candidates: Ints) -> None:
        """Every run of tiles ``candidates``: its colour, length and tile."""
        if self._partial and candidates[-1] == self._count - 1:
            # The padded tile's runs differ from its true ones: take them from its pixels.
            data, starts = self.pixels(candidates)
            first = np.ones(data.shape, dtype=np.bool_)
            np.not_equal(data[1:], data[:-1], out=first[1:])
            first[starts] = True
            at = np.flatnonzero(first)
            tile_of = candidates[np.searchsorted(starts, at, side="right") - 1]
        else:
            # Candidates are never tiles the sample showed to be raw: all are in the subset.
            tiles, starts_2d = self._subset, self._first
            if candidates.size != self._unsure_tiles.size:
                rows = np.searchsorted(self._unsure_tiles, candidates)
                tiles, starts_2d = tiles[rows], starts_2d[rows]
            data = tiles.ravel()
            at = np.flatnonzero(starts_2d)
            tile_of = candidates[at // starts_2d.shape[1]]
        self._run_keys: Keys = data[at]
        self._lengths: Ints = np.diff(np.append(at, data.size))
        self._tile_of: Ints = tile_of

    def emit(self, pieces: list[bytes | memoryview]) -> None:
        """Append the bytes of every tile, in order, to ``pieces``."""
        choice = self.choose()
        wire, cp = self._wire, self._wire.size
        counts = self.counts
        raw = np.flatnonzero(choice == _CHOSE_RAW)
        palette_tiles = choice != _CHOSE_RAW
        raw_bytes = wire.cpixels(self.pixels(raw)[0]).data if raw.size else memoryview(b"")
        palettes = wire.cpixels(self._colours).data if palette_tiles.any() else memoryview(b"")
        packed = self._packed(np.flatnonzero((choice == _CHOSE_PACKED) & (counts > 1)))
        plain = self._plain_rle(choice) if (choice == _CHOSE_PLAIN_RLE).any() else None
        indexed = self._palette_rle(choice) if (choice == _CHOSE_PALETTE_RLE).any() else None
        raw_at = 0
        tile_pixels = (self.widths * self._height).tolist()
        colour_at = (self._colour_at * cp).tolist()
        for i, (sub, n) in enumerate(zip(choice.tolist(), counts.tolist(), strict=True)):
            if sub == _CHOSE_RAW:
                end = raw_at + tile_pixels[i] * cp
                pieces += (_RAW_BYTE, raw_bytes[raw_at:end])
                raw_at = end
                continue
            palette = palettes[colour_at[i] : colour_at[i] + n * cp]
            if n == 1:
                pieces += (_SOLID_BYTE, palette)
            elif sub == _CHOSE_PACKED:
                pieces += (bytes([n]), palette, packed[i])
            elif sub == _CHOSE_PLAIN_RLE:
                assert plain is not None
                data, bounds = plain
                pieces += (bytes([_PLAIN_RLE]), data[bounds[i] : bounds[i + 1]])
            else:
                assert indexed is not None
                data, bounds = indexed
                pieces += (bytes([_PALETTE_RLE + n]), palette, data[bounds[i] : bounds[i + 1]])

    def _indices(self, keys: Keys, tile_of: Ints) -> Bytes:
        """Each key's index in the palette of its tile (``tile_of``), for many tiles at once:
        (tile, colour) pairs are searched among the palettes, which are sorted that way."""
        palettes = (np.repeat(np.arange(self._count), self._kept).astype(np.uint64)
                    << np.uint64(32)) | self._colours  # fmt: skip
        wanted = (tile_of.astype(np.uint64) << np.uint64(32)) | keys
        index: Bytes = (np.searchsorted(palettes, wanted) - self._colour_at[tile_of]).astype(
            np.uint8
        )
        return index

    def _packed(self, which: Ints) -> dict[int, bytes]:
        """The packed indices of tiles ``which``, by tile."""
        out: dict[int, bytes] = {}
        if not which.size:
            return out
        height = self._height
        keys = self._tiles[which]
        tile_of = np.repeat(which, keys[0].size)
        index = self._indices(keys.ravel(), tile_of).reshape(keys.shape)
        n = self.counts[which]
        bits = np.where(n <= 2, 1, np.where(n <= 4, 2, 4))
        widths = self.widths[which]
        for b in (1, 2, 4):
            for width in np.unique(widths[bits == b]).tolist():
                group = np.flatnonzero((bits == b) & (widths == width))
                rows = pack_indices(index[group, :height, :width], b)
                for tile, row in zip(which[group].tolist(), rows, strict=True):
                    out[tile] = row.tobytes()
        return out

    def _plain_rle(self, choice: Ints) -> tuple[memoryview, list[int]]:
        runs = (choice == _CHOSE_PLAIN_RLE)[self._tile_of]
        data = plain_rle(self._wire, self._run_keys[runs], self._lengths[runs])
        return _segments(data, choice == _CHOSE_PLAIN_RLE, self._sizes[_CHOSE_PLAIN_RLE])

    def _palette_rle(self, choice: Ints) -> tuple[memoryview, list[int]]:
        runs = (choice == _CHOSE_PALETTE_RLE)[self._tile_of]
        tile_of = self._tile_of[runs]
        index = self._indices(self._run_keys[runs], tile_of)
        data = palette_rle(index, self._lengths[runs])
        palette = self.counts * self._wire.size
        sizes = self._sizes[_CHOSE_PALETTE_RLE] - palette
        return _segments(data, choice == _CHOSE_PALETTE_RLE, sizes)


def _one_tile(tile: Keys, wire: Wire, pieces: list[bytes | memoryview]) -> None:
    """Append the bytes of one tile, chosen by the same sizes as :meth:`_TileRow.choose`."""
    height, width = tile.shape
    pixels = tile.ravel()
    colours = np.unique(pixels)
    n, cp = len(colours), wire.size
    if n == 1:
        pieces += (_SOLID_BYTE, wire.cpixels(colours).tobytes())
        return
    bits = 1 if n <= 2 else 2 if n <= 4 else 4
    best = raw = height * width * cp
    packed = n * cp + height * -(-width * bits // 8) if n <= PACKED_MAX else raw + 1
    best = min(raw, packed)
    choice = _CHOSE_RAW if raw <= packed else _CHOSE_PACKED
    at = np.flatnonzero(pixels[1:] != pixels[:-1]) + 1
    runs = len(at) + 1
    fits = n <= PALETTE_RLE_MAX
    if runs * (cp + 1) * _RLE_GAIN < best or (fits and (n * cp + runs) * _RLE_GAIN < best):
        lengths = np.diff(at, prepend=0, append=len(pixels))
        more = int(extra_length_bytes(lengths, np.zeros(runs, dtype=np.intp), 1)[0])
        plain = runs * (cp + 1) + more
        indexed = n * cp + 2 * runs - int(np.count_nonzero(lengths == 1)) + more
        if plain * _RLE_GAIN < best:
            best, choice = plain * _RLE_GAIN, _CHOSE_PLAIN_RLE
        if fits and indexed * _RLE_GAIN < best:
            choice = _CHOSE_PALETTE_RLE
        starts = np.concatenate([[0], at])
        if choice == _CHOSE_PLAIN_RLE:
            pieces += (bytes([_PLAIN_RLE]), plain_rle(wire, pixels[starts], lengths).tobytes())
            return
        if choice == _CHOSE_PALETTE_RLE:
            index = np.searchsorted(colours, pixels[starts]).astype(np.uint8)
            data = palette_rle(index, lengths).tobytes()
            pieces += (bytes([_PALETTE_RLE + n]), wire.cpixels(colours).tobytes(), data)
            return
    if choice == _CHOSE_RAW:
        pieces += (_RAW_BYTE, wire.cpixels(pixels).tobytes())
        return
    index = np.searchsorted(colours, tile).astype(np.uint8)
    data = pack_indices(index[None], bits).tobytes()
    pieces += (bytes([n]), wire.cpixels(colours).tobytes(), data)


def _starts(rows: Keys) -> npt.NDArray[np.bool_]:
    """Where each value differs from the one before it in its row (the first always does)."""
    first = np.ones(rows.shape, dtype=np.bool_)
    np.not_equal(rows[:, 1:], rows[:, :-1], out=first[:, 1:])
    return first


def _row_counts(mask: npt.NDArray[np.bool_]) -> Ints:
    """How many values of each row are set; rows of a multiple of 8 values (any tile's,
    and any 8th of one) are counted 8 bytes at a time."""
    counts: Ints
    if mask.shape[1] % 8:
        counts = np.count_nonzero(mask, axis=1)
        return counts
    counts = np.bitwise_count(mask.view(np.uint64)).sum(axis=1, dtype=np.intp)
    return counts


def _segments(
    data: Bytes, chosen: npt.NDArray[np.bool_], sizes: Ints
) -> tuple[memoryview, list[int]]:
    """``data`` (the runs of the ``chosen`` tiles in order, each ``sizes`` bytes) and where
    each tile's bytes start and end in it."""
    ends = np.zeros(len(chosen) + 1, dtype=np.intp)
    ends[1:] = np.cumsum(np.where(chosen, sizes, 0))
    return data.data, ends.tolist()
