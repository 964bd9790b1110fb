"""In-memory stand-ins for the desktop seams and the byte stream, plus client message builders."""

import asyncio
import struct
from dataclasses import dataclass, field

import numpy as np

from tasuke.desktop.base import Cursor

__all__ = [
    "FakeScreen",
    "MemoryStream",
    "RecordingSink",
    "RegionScreen",
    "client_init",
    "continuous",
    "cut_text",
    "fence",
    "key",
    "pointer",
    "request",
    "rgb",
    "sample_picture",
    "set_encodings",
]


def sample_picture(width: int = 256, height: int = 192, seed: int = 1) -> np.ndarray:
    """A B, G, R, X picture with flat, two-colour, few-colour and photographic areas."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 4), np.uint8)
    img[..., 3] = 255
    img[:, :] = (200, 120, 40, 255)  # flat background (fill tiles)
    # "text": two colours in a 1-pixel checker (mono palette)
    text = (np.indices((64, 64)).sum(axis=0) % 2).astype(bool)
    img[0:64, 64:128][text] = (0, 0, 0, 255)
    # a few colours in stripes (palette)
    for i in range(7):
        img[64:128, 0:64][:, i * 9 : i * 9 + 9] = (i * 30, 255 - i * 30, i * 10, 255)
    # photographic: smooth gradient plus noise (many colours)
    yy, xx = np.mgrid[0:64, 0:128]
    img[128:192, 128:256, 0] = (xx * 2).astype(np.uint8)
    img[128:192, 128:256, 1] = (yy * 4).astype(np.uint8)
    img[128:192, 128:256, 2] = ((xx + yy) % 256).astype(np.uint8)
    img[128:192, 128:256, :3] = np.clip(
        img[128:192, 128:256, :3].astype(int) + rng.integers(-6, 7, (64, 128, 3)), 0, 255
    ).astype(np.uint8)
    return img


def rgb(frame: np.ndarray) -> np.ndarray:
    """The R, G, B view of a B, G, R, X frame."""
    return frame[..., 2::-1]


@dataclass
class FakeScreen:
    """A ScreenSource over a numpy picture that tests change between grabs."""

    frame: np.ndarray
    cursor_shape: Cursor | None = None
    grabs: int = 0

    def size(self) -> tuple[int, int]:
        return self.frame.shape[1], self.frame.shape[0]

    def grab(self) -> np.ndarray:
        self.grabs += 1
        return self.frame

    def cursor(self) -> Cursor | None:
        return self.cursor_shape

    def close(self) -> None:
        pass


class RegionScreen(FakeScreen):
    """A screen that reports where it was drawn and can grab regions, like X11 + XDamage."""

    def __init__(self, frame: np.ndarray) -> None:
        super().__init__(frame)
        self.drawn: list[tuple[int, int, int, int]] | None = None
        self.region_grabs: list[tuple[int, int, int, int]] = []

    def draw(self, x: int, y: int, w: int, h: int, colour: tuple[int, int, int]) -> None:
        self.frame = self.frame.copy()
        self.frame[y : y + h, x : x + w] = (*colour, 255)
        if self.drawn is not None:
            self.drawn.append((x, y, w, h))

    def damaged_regions(self) -> list[tuple[int, int, int, int]] | None:
        drawn, self.drawn = self.drawn, []
        return drawn

    def grab_region(self, x: int, y: int, width: int, height: int) -> np.ndarray:
        self.region_grabs.append((x, y, width, height))
        # A view of a buffer the caller must not keep, as mss gives.
        return self.frame[y : y + height, x : x + width].copy()


@dataclass
class RecordingSink:
    """An InputSink that records what would have been injected."""

    events: list[tuple] = field(default_factory=list)

    def key(self, keysym: int, down: bool) -> None:
        self.events.append(("key", keysym, down))

    def pointer(self, x: int, y: int, buttons: int) -> None:
        self.events.append(("pointer", x, y, buttons))

    def close(self) -> None:
        pass


class MemoryStream:
    """A ByteStream whose client side is driven by the test."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self.sent: list[bytes] = []
        self.changed = asyncio.Event()

    async def receive(self) -> bytes:
        return await self.incoming.get()

    async def send(self, data: bytes) -> None:
        self.sent.append(data)
        self.changed.set()

    def take(self) -> bytes:
        out = b"".join(self.sent)
        self.sent.clear()
        return out

    async def wait_for(self, size: int, deadline: float = 5.0) -> bytes:
        """Wait until at least ``size`` bytes were sent; return and forget them."""
        async with asyncio.timeout(deadline):
            while sum(map(len, self.sent)) < size:
                self.changed.clear()
                await self.changed.wait()
        return self.take()


def client_init(minor: int = 8) -> bytes:
    """ProtocolVersion, security choice (3.7+) and ClientInit from a client."""
    version = f"RFB 003.{minor:03d}\n".encode()
    return version + (b"\x01" if minor >= 7 else b"") + b"\x01"


def set_encodings(*encodings: int) -> bytes:
    return struct.pack(f">BxH{len(encodings)}i", 2, len(encodings), *encodings)


def request(x: int, y: int, w: int, h: int, *, incremental: bool) -> bytes:
    return struct.pack(">BBHHHH", 3, int(incremental), x, y, w, h)


def key(keysym: int, down: bool) -> bytes:
    return struct.pack(">BBxxI", 4, int(down), keysym)


def pointer(x: int, y: int, buttons: int) -> bytes:
    return struct.pack(">BBHH", 5, buttons, x, y)


def cut_text(text: bytes, length: int | None = None) -> bytes:
    return struct.pack(">BxxxI", 6, len(text) if length is None else length) + text


def continuous(x: int, y: int, w: int, h: int, *, enable: bool = True) -> bytes:
    return struct.pack(">BBHHHH", 150, int(enable), x, y, w, h)


def fence(flags: int, payload: bytes = b"") -> bytes:
    return struct.pack(">BxxxIB", 248, flags, len(payload)) + payload
