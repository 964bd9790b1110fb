"""A minimal client-side RFB decoder, written for the tests independently of the server code.

It parses the server's handshake and FramebufferUpdates (Raw, Tight fill/copy/palette/JPEG,
Cursor, DesktopSize) into an RGB picture, using only zlib and Pillow, so that encoder bugs
cannot hide behind shared helpers.
"""

import io
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

__all__ = ["ClientFormat", "Decoder", "Rectangle"]


@dataclass(frozen=True)
class ClientFormat:
    """The pixel format the test client asked for."""

    bpp: int = 32
    depth: int = 24
    big_endian: bool = False
    rmax: int = 255
    gmax: int = 255
    bmax: int = 255
    rshift: int = 16
    gshift: int = 8
    bshift: int = 0

    def message(self) -> bytes:
        """The SetPixelFormat message for this format."""
        return b"\x00\x00\x00\x00" + struct.pack(
            ">BBBBHHHBBBxxx",
            self.bpp, self.depth, int(self.big_endian), 1,
            self.rmax, self.gmax, self.bmax, self.rshift, self.gshift, self.bshift,
        )  # fmt: skip

    def to_rgb(self, raw: bytes, count: int) -> np.ndarray:
        """Decode ``count`` wire pixels to an (count, 3) uint8 RGB array (scaled to 0..255)."""
        size = self.bpp // 8
        dtype = np.dtype(f"{'>' if self.big_endian else '<'}u{size}")
        values = np.frombuffer(raw[: count * size], dtype=dtype).astype(np.uint32)
        out = np.empty((count, 3), dtype=np.uint8)
        for i, (cmax, shift) in enumerate(
            ((self.rmax, self.rshift), (self.gmax, self.gshift), (self.bmax, self.bshift))
        ):
            channel = (values >> shift) & cmax
            out[:, i] = (channel * 255 + cmax // 2) // cmax
        return out

    @property
    def tpixel_size(self) -> int:
        """Bytes per Tight TPIXEL."""
        tight24 = self.bpp == 32 and self.depth == 24 and self.rmax == self.gmax == self.bmax == 255
        return 3 if tight24 else self.bpp // 8

    def tpixels_to_rgb(self, raw: bytes, count: int) -> np.ndarray:
        """Decode ``count`` TPIXELs to RGB."""
        if self.tpixel_size == 3:
            return np.frombuffer(raw[: count * 3], dtype=np.uint8).reshape(count, 3).copy()
        return self.to_rgb(raw, count)


@dataclass
class Rectangle:
    """One decoded rectangle header, with the Tight sub-kind for the tests to inspect."""

    x: int
    y: int
    width: int
    height: int
    encoding: int
    kind: str = ""


@dataclass
class Decoder:
    """Feed it all server bytes; it keeps the framebuffer as an RGB array."""

    fmt: ClientFormat = field(default_factory=ClientFormat)
    width: int = 0
    height: int = 0
    name: str = ""
    screen: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3), np.uint8))
    updates: list[list[Rectangle]] = field(default_factory=list)
    cursor: tuple[int, int, np.ndarray, np.ndarray] | None = None
    fences: list[tuple[int, bytes]] = field(default_factory=list)
    end_of_continuous_updates: int = 0
    messages: list[str] = field(default_factory=list)
    h264: dict = field(default_factory=dict)
    screens: list[tuple[int, int, int, int]] = field(default_factory=list)
    layouts: list[tuple] = field(default_factory=list)
    """(reason, status, width, height, screens) of each ExtendedDesktopSize received."""
    _buf: bytes = b""
    _zlib: list = field(default_factory=lambda: [zlib.decompressobj() for _ in range(4)])
    _zrle: object = field(default_factory=zlib.decompressobj)

    def handshake(self, data: bytes, *, minor: int = 8) -> bytes:
        """Parse version, security and ServerInit from ``data``; return what is left."""
        assert data[:12] == b"RFB 003.008\n", data[:12]
        pos = 12
        if minor == 3:
            assert struct.unpack_from(">I", data, pos)[0] == 1
            pos += 4
        else:
            assert data[pos : pos + 2] == b"\x01\x01", "expected exactly security type None"
            pos += 2
            if minor == 8:
                assert struct.unpack_from(">I", data, pos)[0] == 0, "SecurityResult not OK"
                pos += 4
        self.width, self.height = struct.unpack_from(">HH", data, pos)
        pos += 4 + 16
        (length,) = struct.unpack_from(">I", data, pos)
        self.name = data[pos + 4 : pos + 4 + length].decode()
        self.screen = np.zeros((self.height, self.width, 3), np.uint8)
        return data[pos + 4 + length :]

    def feed(self, data: bytes) -> None:
        """Decode every complete FramebufferUpdate in ``data`` (must be whole messages)."""
        buf = memoryview(data)
        pos = 0
        while pos < len(buf):
            if buf[pos] == 150:  # EndOfContinuousUpdates
                self.end_of_continuous_updates += 1
                self.messages.append("end-of-cu")
                pos += 1
                continue
            if buf[pos] == 248:  # ServerFence
                flags, length = struct.unpack_from(">IB", buf, pos + 4)
                self.fences.append((flags, bytes(buf[pos + 9 : pos + 9 + length])))
                self.messages.append("fence")
                pos += 9 + length
                continue
            assert buf[pos] == 0, f"unexpected server message {buf[pos]}"
            self.messages.append("update")
            (count,) = struct.unpack_from(">H", buf, pos + 2)
            pos += 4
            rects = []
            for _ in range(count):
                x, y, w, h, enc = struct.unpack_from(">HHHHi", buf, pos)
                pos += 12
                rect = Rectangle(x, y, w, h, enc)
                pos = self._rect(buf, pos, rect)
                rects.append(rect)
            self.updates.append(rects)

    def _rect(self, buf: memoryview, pos: int, r: Rectangle) -> int:
        n = r.width * r.height
        if r.encoding == 0:
            size = n * self.fmt.bpp // 8
            self._paint(r, self.fmt.to_rgb(bytes(buf[pos : pos + size]), n))
            return pos + size
        if r.encoding == 7:
            return self._tight(buf, pos, r)
        if r.encoding == 1:
            sx, sy = struct.unpack_from(">HH", buf, pos)
            r.kind = "copyrect"
            source = self.screen[sy : sy + r.height, sx : sx + r.width].copy()
            self.screen[r.y : r.y + r.height, r.x : r.x + r.width] = source
            return pos + 4
        if r.encoding == 16:
            (length,) = struct.unpack_from(">I", buf, pos)
            data = self._zrle.decompress(bytes(buf[pos + 4 : pos + 4 + length]))
            r.kind = self._zrle_rect(data, r)
            return pos + 4 + length
        if r.encoding == -239:
            size = n * self.fmt.bpp // 8
            rgb = self.fmt.to_rgb(bytes(buf[pos : pos + size]), n).reshape(r.height, r.width, 3)
            mask_len = (r.width + 7) // 8 * r.height
            mask = np.unpackbits(
                np.frombuffer(bytes(buf[pos + size : pos + size + mask_len]), np.uint8).reshape(
                    r.height, -1
                ),
                axis=1,
            )[:, : r.width]
            self.cursor = (r.x, r.y, rgb, mask.astype(bool))
            return pos + size + mask_len
        if r.encoding == -223:
            self.width, self.height = r.width, r.height
            self.screen = np.zeros((r.height, r.width, 3), np.uint8)
            return pos
        if r.encoding == 50:
            return self._h264(buf, pos, r)
        if r.encoding == -308:  # ExtendedDesktopSize: x = reason, y = status
            (count,) = struct.unpack_from(">B", buf, pos)
            pos += 4
            self.screens = [
                struct.unpack_from(">IHHHHI", buf, pos + 16 * i)[1:5] for i in range(count)
            ]
            self.layouts.append((r.x, r.y, r.width, r.height, list(self.screens)))
            if (r.width, r.height) != (self.width, self.height):
                self.width, self.height = r.width, r.height
                self.screen = np.zeros((r.height, r.width, 3), np.uint8)
            return pos + 16 * count
        raise AssertionError(f"unknown encoding {r.encoding}")

    def _h264(self, buf: memoryview, pos: int, r: Rectangle) -> int:
        """noVNC's rectangle format: U32 length, U32 flags (1 reset this rectangle's decoder,
        2 reset all), Annex-B data; decoded with FFmpeg's own H.264 decoder (not libx264)."""
        import av  # only the H.264 tests need it

        length, flags = struct.unpack_from(">II", buf, pos)
        data = bytes(buf[pos + 8 : pos + 8 + length])
        key = (r.x, r.y, r.width, r.height)
        if flags & 2:
            self.h264.clear()
        elif flags & 1:
            self.h264.pop(key, None)
        decoder = self.h264.setdefault(key, av.CodecContext.create("h264", "r"))
        r.kind = "h264-reset" if flags & 3 else "h264"
        for frame in decoder.decode(av.Packet(data)):  # type: ignore[attr-defined]
            rgb = frame.to_ndarray(format="rgb24")
            self.screen[r.y : r.y + r.height, r.x : r.x + r.width] = rgb[: r.height, : r.width]
        return pos + 8 + length

    def _cpixel_size(self) -> int:
        f = self.fmt
        if f.bpp == 32 and f.depth <= 24:
            bits = (f.rmax << f.rshift) | (f.gmax << f.gshift) | (f.bmax << f.bshift)
            if bits <= 0xFFFFFF or bits & 0xFF == 0:
                return 3
        return f.bpp // 8

    def _cpixels_to_rgb(self, raw: bytes, count: int) -> np.ndarray:
        """Widen 3-byte CPIXELs back to whole pixels, then decode as usual."""
        size = self._cpixel_size()
        if size == self.fmt.bpp // 8:
            return self.fmt.to_rgb(raw, count)
        f = self.fmt
        bits = (f.rmax << f.rshift) | (f.gmax << f.gshift) | (f.bmax << f.bshift)
        three = np.frombuffer(raw[: count * 3], np.uint8).reshape(count, 3)
        whole = np.zeros((count, 4), np.uint8)
        low_bytes_first = not f.big_endian
        in_low = bits <= 0xFFFFFF
        # The CPIXEL keeps the three significant bytes in wire order.
        if in_low == low_bytes_first:
            whole[:, 0:3] = three
        else:
            whole[:, 1:4] = three
        return self.fmt.to_rgb(whole.tobytes(), count)

    def _zrle_rect(self, data: bytes, r: Rectangle) -> str:
        cp = self._cpixel_size()
        pos = 0
        kinds = set()
        for ty in range(r.y, r.y + r.height, 64):
            for tx in range(r.x, r.x + r.width, 64):
                w, h = min(64, r.x + r.width - tx), min(64, r.y + r.height - ty)
                sub = data[pos]
                pos += 1
                if sub == 0:
                    rgb = self._cpixels_to_rgb(data[pos : pos + w * h * cp], w * h)
                    pos += w * h * cp
                    kinds.add("raw")
                elif sub == 1:
                    rgb = np.repeat(self._cpixels_to_rgb(data[pos : pos + cp], 1), w * h, 0)
                    pos += cp
                    kinds.add("solid")
                elif sub <= 16:
                    palette = self._cpixels_to_rgb(data[pos : pos + sub * cp], sub)
                    pos += sub * cp
                    bits = 1 if sub == 2 else 2 if sub <= 4 else 4
                    row_bytes = (w * bits + 7) // 8
                    index = []
                    for _ in range(h):
                        row = data[pos : pos + row_bytes]
                        pos += row_bytes
                        for x in range(w):
                            bit = x * bits
                            byte = row[bit // 8]
                            index.append((byte >> (8 - bits - bit % 8)) & ((1 << bits) - 1))
                    rgb = palette[np.array(index)]
                    kinds.add("packed")
                else:
                    rgb, pos = self._zrle_rle(data, pos, sub, w * h, cp)
                    kinds.add("rle")
                self.screen[ty : ty + h, tx : tx + w] = rgb.reshape(h, w, 3)
        assert pos == len(data), "ZRLE data left over"
        return "+".join(sorted(kinds))

    def _zrle_rle(self, data: bytes, pos: int, sub: int, n: int, cp: int):
        assert sub == 128 or sub >= 130, f"bad ZRLE sub-encoding {sub}"
        palette = None
        if sub >= 130:
            palette = self._cpixels_to_rgb(data[pos : pos + (sub - 128) * cp], sub - 128)
            pos += (sub - 128) * cp
        out = []
        while len(out) < n:
            if palette is None:
                colour = self._cpixels_to_rgb(data[pos : pos + cp], 1)[0]
                pos += cp
                run = True
            else:
                colour, run = palette[data[pos] & 0x7F], data[pos] & 0x80
                pos += 1
            length = 1
            if run:
                while data[pos] == 255:
                    length += 255
                    pos += 1
                length += data[pos]
                pos += 1
            out.extend([colour] * length)
        assert len(out) == n
        return np.array(out, np.uint8), pos

    def _paint(self, r: Rectangle, rgb: np.ndarray) -> None:
        self.screen[r.y : r.y + r.height, r.x : r.x + r.width] = rgb.reshape(r.height, r.width, 3)

    @staticmethod
    def _length(buf: memoryview, pos: int) -> tuple[int, int]:
        value, shift = 0, 0
        for i in range(3):
            byte = buf[pos + i]
            if i == 2:
                return value | (byte << 14), pos + 3
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value, pos + i + 1
        raise AssertionError("unreachable")

    def _tight(self, buf: memoryview, pos: int, r: Rectangle) -> int:
        ctl = buf[pos]
        pos += 1
        for i in range(4):
            if ctl & (1 << i):
                self._zlib[i] = zlib.decompressobj()
        kind = ctl >> 4
        n = r.width * r.height
        tp = self.fmt.tpixel_size
        if kind == 0x8:
            r.kind = "fill"
            colour = self.fmt.tpixels_to_rgb(bytes(buf[pos : pos + tp]), 1)
            self._paint(r, np.repeat(colour, n, axis=0))
            return pos + tp
        if kind == 0x9:
            r.kind = "jpeg"
            length, pos = self._length(buf, pos)
            image = Image.open(io.BytesIO(bytes(buf[pos : pos + length]))).convert("RGB")
            assert image.size == (r.width, r.height)
            self._paint(r, np.asarray(image))
            return pos + length
        assert not kind & 0x8, f"bad Tight control byte {ctl:#x}"
        stream = kind & 0x3
        palette = None
        if kind & 0x4:
            filt = buf[pos]
            pos += 1
            assert filt in (0, 1), f"unsupported Tight filter {filt}"
            if filt == 1:
                count = buf[pos] + 1
                pos += 1
                palette = self.fmt.tpixels_to_rgb(bytes(buf[pos : pos + count * tp]), count)
                pos += count * tp
        if palette is None:
            r.kind = "copy"
            size = n * tp
        elif len(palette) == 2:
            r.kind = "mono"
            size = (r.width + 7) // 8 * r.height
        else:
            r.kind = "palette"
            size = n
        if size < 12:
            data = bytes(buf[pos : pos + size])
            pos += size
        else:
            length, pos = self._length(buf, pos)
            data = self._zlib[stream].decompress(bytes(buf[pos : pos + length]))
            pos += length
        assert len(data) == size, (len(data), size)
        if palette is None:
            rgb = self.fmt.tpixels_to_rgb(data, n)
        elif len(palette) == 2:
            bits = np.unpackbits(np.frombuffer(data, np.uint8).reshape(r.height, -1), axis=1)
            rgb = palette[bits[:, : r.width].reshape(-1)]
        else:
            rgb = palette[np.frombuffer(data, np.uint8)]
        self._paint(r, rgb)
        return pos
