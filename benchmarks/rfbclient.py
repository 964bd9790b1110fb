"""A small asyncio RFB 3.8 client for the benchmarks (not a test, not a viewer).

It asks for updates continuously (a new incremental request as soon as an update is in, or
the ContinuousUpdates extension when asked to) and decodes Raw, CopyRect, Tight (fill,
copy, palette, gradient, JPEG), ZRLE, Cursor and LastRect into an RGB framebuffer, so that the
benchmark can count what arrives and compare the picture with a direct screenshot.
"""

import asyncio
import struct
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import simplejpeg

__all__ = ["NOVNC_H264", "NOVNC_LIKE", "RFBClient", "Update"]

# What noVNC 1.x sends (quality 6, compression 2), minus the ones it never sees here.
NOVNC_LIKE = (1, 7, 16, 0, -32 + 6, -256 + 2, -223, -224, -239, -258, -312, -313)
# noVNC 1.7 where WebCodecs decodes H.264: encoding 50 right after CopyRect.
NOVNC_H264 = (1, 50, *NOVNC_LIKE[1:])
_PIXEL_FORMAT = struct.pack(">BBBBHHHBBBxxx", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)


@dataclass
class Update:
    """One FramebufferUpdate as received."""

    at: float
    rects: list[tuple[int, int, int, int, int]]
    size: int


@dataclass
class RFBClient:
    """One connection. Call :meth:`connect`, then run :meth:`run` as a task."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    encodings: tuple[int, ...] = NOVNC_LIKE
    continuous: bool = False
    width: int = 0
    height: int = 0
    fb: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3), np.uint8))
    bytes_in: int = 0
    updates: list[Update] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _zlib: list = field(default_factory=lambda: [zlib.decompressobj() for _ in range(4)])
    _zrle: "zlib._Decompress" = field(default_factory=zlib.decompressobj)
    _h264: dict = field(default_factory=dict)

    async def read(self, n: int) -> bytes:
        data = await self.reader.readexactly(n)
        self.bytes_in += n
        return data

    async def connect(self) -> None:
        """Handshake with security type None, then SetPixelFormat and SetEncodings."""
        await self.read(12)
        self.writer.write(b"RFB 003.008\n")
        (count,) = await self.read(1)
        types = await self.read(count)
        if 1 not in types:
            raise RuntimeError(f"server offers no security type None: {list(types)}")
        self.writer.write(b"\x01")
        if struct.unpack(">I", await self.read(4))[0] != 0:
            raise RuntimeError("security handshake failed")
        self.writer.write(b"\x01")
        self.width, self.height = struct.unpack(">HH", await self.read(4))
        await self.read(16)
        (name_len,) = struct.unpack(">I", await self.read(4))
        await self.read(name_len)
        self.fb = np.zeros((self.height, self.width, 3), np.uint8)
        self.writer.write(b"\x00\x00\x00\x00" + _PIXEL_FORMAT)
        encs = self.encodings
        self.writer.write(struct.pack(f">BxH{len(encs)}i", 2, len(encs), *encs))
        self.request(incremental=False)
        await self.writer.drain()

    def request(self, *, incremental: bool) -> None:
        self.writer.write(
            struct.pack(">BBHHHH", 3, int(incremental), 0, 0, self.width, self.height)
        )

    def key(self, keysym: int) -> None:
        """Press and release one key."""
        self.writer.write(struct.pack(">BBxxI", 4, 1, keysym) + struct.pack(">BBxxI", 4, 0, keysym))

    async def run(self) -> None:
        """Read server messages until the connection ends."""
        continuous_on = False
        while True:
            (kind,) = await self.read(1)
            if kind == 0:
                start = self.bytes_in - 1
                rects = await self._update()
                self.updates.append(Update(time.monotonic(), rects, self.bytes_in - start))
                self.changed.set()
                if not continuous_on:
                    self.request(incremental=True)
            elif kind == 2:  # Bell
                pass
            elif kind == 3:  # ServerCutText
                (length,) = struct.unpack(">3xI", await self.read(7))
                await self.read(length)
            elif kind == 150:  # EndOfContinuousUpdates: the server supports the extension
                if self.continuous and not continuous_on:
                    continuous_on = True
                    self.writer.write(struct.pack(">BBHHHH", 150, 1, 0, 0, self.width, self.height))
            elif kind == 248:  # Fence: answer a request with the same payload
                flags, length = struct.unpack(">3xIB", await self.read(8))
                payload = await self.read(length)
                if flags & 0x80000000:
                    reply = struct.pack(">B3xIB", 248, flags & 0x7, length) + payload
                    self.writer.write(reply)
            else:
                raise RuntimeError(f"unexpected server message {kind}")
            await self.writer.drain()

    async def _update(self) -> list[tuple[int, int, int, int, int]]:
        (count,) = struct.unpack(">xH", await self.read(3))
        rects = []
        for _ in range(count):
            x, y, w, h, enc = struct.unpack(">HHHHi", await self.read(12))
            if enc == -224:  # LastRect
                break
            rects.append((x, y, w, h, enc))
            await self._rect(x, y, w, h, enc)
        return rects

    async def _rect(self, x: int, y: int, w: int, h: int, enc: int) -> None:
        if enc == 0:
            self.kinds["raw"] += 1
            data = np.frombuffer(await self.read(w * h * 4), np.uint8).reshape(h, w, 4)
            self.fb[y : y + h, x : x + w] = data[..., 2::-1]
        elif enc == 1:
            self.kinds["copyrect"] += 1
            sx, sy = struct.unpack(">HH", await self.read(4))
            self.fb[y : y + h, x : x + w] = self.fb[sy : sy + h, sx : sx + w].copy()
        elif enc == 7:
            self.fb[y : y + h, x : x + w] = await self._tight(w, h)
        elif enc == 16:
            self.kinds["zrle"] += 1
            (length,) = struct.unpack(">I", await self.read(4))
            data = self._zrle.decompress(await self.read(length))
            self.fb[y : y + h, x : x + w] = decode_zrle(data, w, h)
        elif enc == 50:  # H.264 as noVNC decodes it: U32 length, U32 flags, Annex-B
            length, flags = struct.unpack(">II", await self.read(8))
            data = await self.read(length)
            key = (x, y, w, h)
            if flags & 2:
                self._h264.clear()
            elif flags & 1:
                self._h264.pop(key, None)
            import av  # only when the server sends H.264

            decoder = self._h264.setdefault(key, av.CodecContext.create("h264", "r"))
            self.kinds["h264"] += 1
            for frame in decoder.decode(av.Packet(data)):
                self.fb[y : y + h, x : x + w] = frame.to_ndarray(format="rgb24")[:h, :w]
        elif enc == -239:  # Cursor: pixels and mask
            await self.read(w * h * 4 + (w + 7) // 8 * h)
        elif enc in (-223, -308):
            if enc == -308:
                (screens,) = struct.unpack(">B3x", await self.read(4))
                await self.read(16 * screens)
            self.width, self.height = w, h
            self.fb = np.zeros((h, w, 3), np.uint8)
        else:
            raise RuntimeError(f"unsupported encoding {enc}")

    async def _length(self) -> int:
        value = 0
        for i in range(3):
            (byte,) = await self.read(1)
            if i == 2:
                return value | (byte << 14)
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                return value
        return value

    async def _tight(self, w: int, h: int) -> np.ndarray:
        (ctl,) = await self.read(1)
        for i in range(4):
            if ctl & (1 << i):
                self._zlib[i] = zlib.decompressobj()
        kind = ctl >> 4
        if kind == 8:
            self.kinds["tight-fill"] += 1
            return np.frombuffer(await self.read(3), np.uint8)
        if kind == 9:
            self.kinds["tight-jpeg"] += 1
            image = await self.read(await self._length())
            return simplejpeg.decode_jpeg(image, colorspace="RGB")
        filt = (await self.read(1))[0] if kind & 4 else 0
        palette = None
        if filt == 1:
            n = (await self.read(1))[0] + 1
            palette = np.frombuffer(await self.read(3 * n), np.uint8).reshape(n, 3)
            size = (w + 7) // 8 * h if n == 2 else w * h
        else:
            size = w * h * 3
        raw = await self.read(size) if size < 12 else await self._inflate(kind & 3)
        if palette is not None:
            self.kinds["tight-palette"] += 1
            if len(palette) == 2:
                bits = np.unpackbits(np.frombuffer(raw, np.uint8).reshape(h, -1), axis=1)[:, :w]
                return palette[bits]
            return palette[np.frombuffer(raw, np.uint8).reshape(h, w)]
        pixels = np.frombuffer(raw, np.uint8).reshape(h, w, 3)
        if filt == 2:
            self.kinds["tight-gradient"] += 1
            return _ungradient(pixels)
        self.kinds["tight-copy"] += 1
        return pixels

    async def _inflate(self, stream: int) -> bytes:
        return self._zlib[stream].decompress(await self.read(await self._length()))


def _ungradient(diff: np.ndarray) -> np.ndarray:
    h, w = diff.shape[:2]
    out = np.zeros((h + 1, w + 1, 3), np.int32)
    d = diff.astype(np.int32)
    for y in range(h):
        for x in range(w):
            pred = np.clip(out[y + 1, x] + out[y, x + 1] - out[y, x], 0, 255)
            out[y + 1, x + 1] = (pred + d[y, x]) & 0xFF
    return out[1:, 1:].astype(np.uint8)


def decode_zrle(data: bytes, w: int, h: int) -> np.ndarray:
    """ZRLE tiles (64x64, 3-byte CPIXELs B, G, R for our pixel format) to RGB."""
    out = np.zeros((h, w, 3), np.uint8)
    pos = 0
    for ty in range(0, h, 64):
        for tx in range(0, w, 64):
            th, tw = min(64, h - ty), min(64, w - tx)
            tile, pos = _zrle_tile(data, pos, tw, th)
            out[ty : ty + th, tx : tx + tw] = tile
    return out


def _zrle_tile(data: bytes, pos: int, w: int, h: int) -> tuple[np.ndarray, int]:
    sub = data[pos]
    pos += 1
    n = w * h
    if sub == 0:
        px = np.frombuffer(data, np.uint8, n * 3, pos).reshape(h, w, 3)[..., ::-1]
        return px, pos + n * 3
    if sub == 1:
        return np.broadcast_to(np.frombuffer(data, np.uint8, 3, pos)[::-1], (h, w, 3)), pos + 3
    if 2 <= sub <= 16:
        pal = np.frombuffer(data, np.uint8, sub * 3, pos).reshape(sub, 3)[:, ::-1]
        pos += sub * 3
        bits = 1 if sub == 2 else 2 if sub <= 4 else 4
        row = (w * bits + 7) // 8
        packed = np.frombuffer(data, np.uint8, row * h, pos).reshape(h, row)
        unpacked = np.unpackbits(packed, axis=1).reshape(h, row * 8 // bits, bits)
        weights = 1 << np.arange(bits - 1, -1, -1)
        idx = (unpacked * weights).sum(axis=2)[:, :w]
        return pal[idx], pos + row * h
    if sub == 128 or sub >= 130:
        pal = None
        if sub >= 130:
            size = sub - 128
            pal = np.frombuffer(data, np.uint8, size * 3, pos).reshape(size, 3)[:, ::-1]
            pos += size * 3
        flat = np.zeros((n, 3), np.uint8)
        i = 0
        while i < n:
            if pal is None:
                colour = np.frombuffer(data, np.uint8, 3, pos)[::-1]
                pos += 3
                run = True
            else:
                index = data[pos]
                pos += 1
                colour, run = pal[index & 0x7F], bool(index & 0x80)
            length = 1
            if run:
                while data[pos] == 255:
                    length += 255
                    pos += 1
                length += data[pos]
                pos += 1
            flat[i : i + length] = colour
            i += length
        return flat.reshape(h, w, 3), pos
    raise RuntimeError(f"bad ZRLE sub-encoding {sub}")
