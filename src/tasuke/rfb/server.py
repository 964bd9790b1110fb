"""The RFB 3.8 server side without I/O (RFC 6143).

Bytes from the client go in through :meth:`RFBServer.receive_data`; parsed input comes out of
:meth:`RFBServer.events_received`; bytes for the client come out of
:meth:`RFBServer.data_to_send`. Pictures go in through :meth:`RFBServer.update`, which sends a
FramebufferUpdate only when the client asked for one and something it asked about changed.

The handshake offers only security type None: on the agent path the end-to-end channel has
already authenticated both ends, and ``tasuke vnc`` listens on loopback only.
"""

import enum
import struct

import numpy as np

from tasuke import limits
from tasuke.desktop.base import Cursor, Frame
from tasuke.errors import LocalError, RFBError
from tasuke.rfb import constants as c
from tasuke.rfb.encoders.cursor import encode_cursor
from tasuke.rfb.encoders.raw import encode_raw
from tasuke.rfb.encoders.tight import TightEncoder
from tasuke.rfb.messages import (
    ClientMessage,
    FramebufferUpdateRequest,
    SetEncodings,
    SetPixelFormat,
    parse_client_message,
)
from tasuke.rfb.pixelformat import DEFAULT_PIXEL_FORMAT
from tasuke.rfb.tiles import ClientView, Rect

__all__ = ["RFBServer", "State"]

_RECT = struct.Struct(">HHHHi")
_UPDATE = struct.Struct(">BxH")
_MAX_RECTS = 0xFFFF


class State(enum.Enum):
    """Where the connection is in RFC 6143 section 7.1-7.3."""

    VERSION = "version"
    SECURITY = "security"
    CLIENT_INIT = "client-init"
    NORMAL = "normal"


class RFBServer:
    """One RFB connection, server side. Not thread-safe; drive it from one task.

    The server's ProtocolVersion is queued at construction; call :meth:`data_to_send` first.

    Raises:
        LocalError: (constructor) a framebuffer size outside 1..limits.MAX_FRAMEBUFFER_DIM.
    """

    def __init__(self, width: int, height: int, *, name: str) -> None:
        for dim in (width, height):
            if not 0 < dim <= limits.MAX_FRAMEBUFFER_DIM:
                raise LocalError(f"framebuffer size {width}x{height} is out of range")
        self.width = width
        self.height = height
        self.name = name
        self.state = State.VERSION
        self.minor_version = 8
        self.pixel_format = DEFAULT_PIXEL_FORMAT
        self.encodings: tuple[int, ...] = ()
        self._buffer = bytearray()
        self._out = bytearray(c.SERVER_VERSION)
        self._events: list[ClientMessage] = []
        self._view = ClientView(width, height)
        self._tight = TightEncoder()
        self._request: Rect | None = None
        self._full: Rect | None = None
        self._cursor_serial: int | None = None

    # --- I/O boundary ---------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes received from the client.

        Raises:
            RFBError: the client broke RFC 6143, or sent more than limits.MAX_RFB_BUFFER bytes
                that do not form a complete message.
        """
        self._buffer += data
        while self._buffer:
            used = self._step()
            if used == 0:
                break
            del self._buffer[:used]
        if len(self._buffer) > limits.MAX_RFB_BUFFER:
            raise RFBError(f"more than {limits.MAX_RFB_BUFFER} unparsed bytes from the client")

    def events_received(self) -> list[ClientMessage]:
        """Return and forget the client messages parsed so far (input and negotiation)."""
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> bytes:
        """Return and forget the bytes queued for the client."""
        out = bytes(self._out)
        self._out.clear()
        return out

    # --- state machine --------------------------------------------------------------------

    def _step(self) -> int:
        buf = self._buffer
        if self.state is State.VERSION:
            return self._on_version(buf)
        if self.state is State.SECURITY:
            return self._on_security(buf[0])
        if self.state is State.CLIENT_INIT:
            self._send_server_init()
            self.state = State.NORMAL
            return 1  # the shared flag: every viewer shares the one screen
        parsed = parse_client_message(buf)
        if parsed is None:
            return 0
        message, used = parsed
        self._apply(message)
        self._events.append(message)
        return used

    def _on_version(self, buf: bytearray) -> int:
        if len(buf) < 12:
            if not c.SERVER_VERSION.startswith(bytes(buf[:4])):
                raise RFBError("the client did not send an RFB ProtocolVersion")
            return 0
        text = bytes(buf[:12])
        if not (text[:4] == b"RFB " and text[7:8] == b"." and text[11:12] == b"\n"):
            raise RFBError("malformed RFB ProtocolVersion")
        digits = text[4:7] + text[8:11]
        if not digits.isdigit() or int(text[4:7]) != 3:
            raise RFBError(f"unsupported RFB version {text[4:11]!r}")
        minor = int(text[8:11])
        # RFC 6143 7.1.1: unknown 3.x versions are to be treated as 3.3.
        self.minor_version = 8 if minor >= 8 else 7 if minor == 7 else 3
        if self.minor_version == 3:
            self._out += struct.pack(">I", c.SECURITY_NONE)
            self.state = State.CLIENT_INIT
        else:
            self._out += bytes([1, c.SECURITY_NONE])
            self.state = State.SECURITY
        return 12

    def _on_security(self, chosen: int) -> int:
        if chosen != c.SECURITY_NONE:
            if self.minor_version == 8:
                reason = b"only security type None is offered"
                self._out += struct.pack(">II", 1, len(reason)) + reason
            raise RFBError(f"the client chose security type {chosen}, which was not offered")
        if self.minor_version == 8:
            self._out += struct.pack(">I", 0)  # SecurityResult OK (3.7 omits it for None)
        self.state = State.CLIENT_INIT
        return 1

    def _send_server_init(self) -> None:
        name = self.name.encode("utf-8")
        self._out += struct.pack(">HH", self.width, self.height)
        self._out += self.pixel_format.pack()
        self._out += struct.pack(">I", len(name)) + name

    def _apply(self, message: ClientMessage) -> None:
        if isinstance(message, SetPixelFormat):
            self.pixel_format = message.pixel_format
        elif isinstance(message, SetEncodings):
            self.encodings = message.encodings
            levels = [
                e for e in message.encodings if c.ENC_ZLIB_LEVEL_MIN <= e <= c.ENC_ZLIB_LEVEL_MAX
            ]
            if levels:
                self._tight.set_zlib_level(levels[0] - c.ENC_ZLIB_LEVEL_MIN)
        elif isinstance(message, FramebufferUpdateRequest):
            self._on_request(message)

    def _on_request(self, req: FramebufferUpdateRequest) -> None:
        region = Rect(req.x, req.y, req.width, req.height).clip(self.width, self.height)
        if region is None:
            # Viewers ask for the old size right after a resize; that is not an error.
            region = Rect(0, 0, self.width, self.height)
        self._request = region if self._request is None else self._request.union(region)
        if not req.incremental:
            self._full = region if self._full is None else self._full.union(region)

    # --- updates --------------------------------------------------------------------------

    @property
    def update_requested(self) -> bool:
        """True while the client has asked for an update that has not been sent yet."""
        return self.state is State.NORMAL and self._request is not None

    @property
    def jpeg_level(self) -> int | None:
        """The client's JPEG quality level 0..9, or None if it did not ask for JPEG."""
        for e in self.encodings:
            if c.ENC_JPEG_QUALITY_MIN <= e <= c.ENC_JPEG_QUALITY_MAX:
                return e - c.ENC_JPEG_QUALITY_MIN
        return None

    @property
    def encoding(self) -> int:
        """The pixel encoding in use: the client's first choice among those implemented."""
        for e in self.encodings:
            if e in (c.ENC_RAW, c.ENC_TIGHT):
                return e
        return c.ENC_RAW

    def update(self, frame: Frame, cursor: Cursor | None = None) -> bool:
        """Send what changed in the requested region since the client last got it.

        ``frame`` is the whole screen (B, G, R, X). Returns True if a FramebufferUpdate was
        queued; False leaves an incremental request pending until something changes.
        """
        if not self.update_requested:
            return False
        assert self._request is not None
        frame = np.ascontiguousarray(frame)
        height, width = frame.shape[:2]
        if (width, height) != (self.width, self.height):
            if c.ENC_DESKTOP_SIZE in self.encodings and self._resize(width, height):
                return True
            frame = _fit(frame, self.width, self.height)
        dirty = self._view.dirty_tiles(frame)
        if self._full is not None:
            dirty |= self._view.region_mask(self._full)
        rects = self._view.rects(dirty, self._request)
        send_cursor = (
            cursor is not None
            and c.ENC_CURSOR in self.encodings
            and cursor.serial != self._cursor_serial
        )
        if not rects and not send_cursor:
            return False
        body = bytearray()
        count = 0
        if send_cursor:
            assert cursor is not None
            ch, cw = cursor.pixels.shape[:2]
            body += _RECT.pack(cursor.hot_x, cursor.hot_y, cw, ch, c.ENC_CURSOR)
            body += encode_cursor(cursor, self.pixel_format)
            self._cursor_serial = cursor.serial
            count += 1
        encoding, jpeg = self.encoding, self.jpeg_level
        rects = rects[: _MAX_RECTS - count]
        for r in rects:
            pixels = frame[r.y : r.y + r.height, r.x : r.x + r.width]
            body += _RECT.pack(r.x, r.y, r.width, r.height, encoding)
            if encoding == c.ENC_TIGHT:
                body += self._tight.encode(pixels, self.pixel_format, jpeg)
            else:
                body += encode_raw(pixels, self.pixel_format)
        self._view.mark_sent(frame, rects)
        self._out += _UPDATE.pack(c.MSG_FRAMEBUFFER_UPDATE, count + len(rects)) + body
        self._request = self._full = None
        return True

    def _resize(self, width: int, height: int) -> bool:
        if not (
            0 < width <= limits.MAX_FRAMEBUFFER_DIM and 0 < height <= limits.MAX_FRAMEBUFFER_DIM
        ):
            return False
        self.width, self.height = width, height
        self._view = ClientView(width, height)
        # RFC 6143 7.8.2: the DesktopSize rectangle ends the update; the next one is all new.
        self._out += _UPDATE.pack(c.MSG_FRAMEBUFFER_UPDATE, 1)
        self._out += _RECT.pack(0, 0, width, height, c.ENC_DESKTOP_SIZE)
        self._request = self._full = None
        return True


def _fit(frame: Frame, width: int, height: int) -> Frame:
    """Crop or pad (black) a frame to the size a client without DesktopSize still expects."""
    out = np.zeros((height, width, 4), dtype=np.uint8)
    h, w = min(height, frame.shape[0]), min(width, frame.shape[1])
    out[:h, :w] = frame[:h, :w]
    return out
