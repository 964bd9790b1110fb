"""Client-to-server RFB messages (RFC 6143 section 7.5) and their parser.

:func:`parse_client_message` looks at the front of a buffer and returns one message and the
number of bytes it used, or None when the buffer does not yet hold a whole message. It never
trusts a length field beyond the limits in :mod:`tasuke.limits`.
"""

import struct
from dataclasses import dataclass

from tasuke import limits
from tasuke.errors import RFBError
from tasuke.rfb import constants as c
from tasuke.rfb.pixelformat import PixelFormat

__all__ = [
    "ClientCutText",
    "ClientMessage",
    "EnableContinuousUpdates",
    "Fence",
    "FramebufferUpdateRequest",
    "KeyEvent",
    "PointerEvent",
    "SetDesktopSize",
    "SetEncodings",
    "SetPixelFormat",
    "parse_client_message",
]


@dataclass(frozen=True, slots=True)
class SetPixelFormat:
    """The client wants pixels in ``pixel_format`` from now on."""

    pixel_format: PixelFormat


@dataclass(frozen=True, slots=True)
class SetEncodings:
    """The encodings and pseudo-encodings the client supports, most preferred first."""

    encodings: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FramebufferUpdateRequest:
    """The client asks for (changes in) a region; ``incremental`` False means all of it."""

    incremental: bool
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """A key went down or up. ``keycode`` is the QEMU scan code when the client sent one."""

    keysym: int
    down: bool
    keycode: int | None = None


@dataclass(frozen=True, slots=True)
class PointerEvent:
    """The pointer is at (x, y) with these buttons held (bit 0 = left)."""

    x: int
    y: int
    buttons: int


@dataclass(frozen=True, slots=True)
class ClientCutText:
    """The client's clipboard changed (ISO 8859-1 text, decoded)."""

    text: str


@dataclass(frozen=True, slots=True)
class EnableContinuousUpdates:
    """Continuous updates on (for this region) or off (rfbproto extension)."""

    enable: bool
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Fence:
    """A ClientFence: a request to synchronise, or the answer to one of ours."""

    flags: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class SetDesktopSize:
    """The client asks for a framebuffer size and screen layout (rfbproto
    ExtendedDesktopSize); ``screens`` are (id, x, y, width, height, flags)."""

    width: int
    height: int
    screens: tuple[tuple[int, int, int, int, int, int], ...]


ClientMessage = (
    SetPixelFormat
    | SetEncodings
    | FramebufferUpdateRequest
    | KeyEvent
    | PointerEvent
    | ClientCutText
    | EnableContinuousUpdates
    | Fence
    | SetDesktopSize
)

_FUR = struct.Struct(">BBHHHH")
_KEY = struct.Struct(">BBxxI")
_POINTER = struct.Struct(">BBHH")
_CUT_HEADER = struct.Struct(">BxxxI")
_ENC_HEADER = struct.Struct(">BxH")
_QEMU_KEY = struct.Struct(">BBHII")
_FENCE_HEADER = struct.Struct(">BxxxIB")
_DESKTOP_HEADER = struct.Struct(">BxHHBx")
_SCREEN = struct.Struct(">IHHHHI")


def parse_client_message(buf: bytes | bytearray) -> tuple[ClientMessage, int] | None:
    """Parse one client message from the start of ``buf``.

    Returns the message and the bytes consumed, or None if more bytes are needed.

    Raises:
        RFBError: an unknown message type, a length over its limit, or invalid contents.
    """
    if not buf:
        return None
    kind = buf[0]
    if kind == c.MSG_SET_PIXEL_FORMAT:
        if len(buf) < 20:
            return None
        return SetPixelFormat(PixelFormat.unpack(bytes(buf[4:20]))), 20
    if kind == c.MSG_SET_ENCODINGS:
        if len(buf) < _ENC_HEADER.size:
            return None
        _, count = _ENC_HEADER.unpack_from(buf)
        if count > limits.MAX_SET_ENCODINGS:
            raise RFBError(
                f"SetEncodings lists {count} encodings (limit {limits.MAX_SET_ENCODINGS})"
            )
        size = _ENC_HEADER.size + 4 * count
        if len(buf) < size:
            return None
        return SetEncodings(struct.unpack_from(f">{count}i", buf, _ENC_HEADER.size)), size
    if kind == c.MSG_FRAMEBUFFER_UPDATE_REQUEST:
        if len(buf) < _FUR.size:
            return None
        _, incremental, x, y, w, h = _FUR.unpack_from(buf)
        return FramebufferUpdateRequest(bool(incremental), x, y, w, h), _FUR.size
    if kind == c.MSG_KEY_EVENT:
        if len(buf) < _KEY.size:
            return None
        _, down, keysym = _KEY.unpack_from(buf)
        return KeyEvent(keysym, bool(down)), _KEY.size
    if kind == c.MSG_POINTER_EVENT:
        if len(buf) < _POINTER.size:
            return None
        _, buttons, x, y = _POINTER.unpack_from(buf)
        return PointerEvent(x, y, buttons), _POINTER.size
    if kind == c.MSG_CLIENT_CUT_TEXT:
        return _parse_cut_text(buf)
    if kind == c.MSG_QEMU:
        return _parse_qemu(buf)
    if kind == c.MSG_ENABLE_CONTINUOUS_UPDATES:
        if len(buf) < _FUR.size:
            return None
        _, enable, x, y, w, h = _FUR.unpack_from(buf)
        return EnableContinuousUpdates(bool(enable), x, y, w, h), _FUR.size
    if kind == c.MSG_FENCE:
        return _parse_fence(buf)
    if kind == c.MSG_SET_DESKTOP_SIZE:
        return _parse_set_desktop_size(buf)
    raise RFBError(f"unknown client message type {kind}")


def _parse_cut_text(buf: bytes | bytearray) -> tuple[ClientMessage, int] | None:
    if len(buf) < _CUT_HEADER.size:
        return None
    _, length = _CUT_HEADER.unpack_from(buf)
    # A negative (high-bit) length is the Extended Clipboard form, which we never offered.
    if length > limits.MAX_CLIENT_CUT_TEXT:
        raise RFBError(
            f"ClientCutText of {length} bytes is over the limit of {limits.MAX_CLIENT_CUT_TEXT}"
        )
    end = _CUT_HEADER.size + length
    if len(buf) < end:
        return None
    return ClientCutText(bytes(buf[_CUT_HEADER.size : end]).decode("latin-1")), end


def _parse_qemu(buf: bytes | bytearray) -> tuple[ClientMessage, int] | None:
    if len(buf) < 2:
        return None
    if buf[1] != c.QEMU_EXTENDED_KEY_EVENT:
        raise RFBError(f"unknown QEMU client message sub-type {buf[1]}")
    if len(buf) < _QEMU_KEY.size:
        return None
    _, _, down, keysym, keycode = _QEMU_KEY.unpack_from(buf)
    if down > 1:
        raise RFBError(f"QEMU key event with down-flag {down}")
    return KeyEvent(keysym, bool(down), keycode), _QEMU_KEY.size


def _parse_fence(buf: bytes | bytearray) -> tuple[ClientMessage, int] | None:
    if len(buf) < _FENCE_HEADER.size:
        return None
    _, flags, length = _FENCE_HEADER.unpack_from(buf)
    if length > c.FENCE_MAX_PAYLOAD:
        raise RFBError(f"Fence payload of {length} bytes (at most {c.FENCE_MAX_PAYLOAD})")
    end = _FENCE_HEADER.size + length
    if len(buf) < end:
        return None
    return Fence(flags, bytes(buf[_FENCE_HEADER.size : end])), end


def _parse_set_desktop_size(buf: bytes | bytearray) -> tuple[ClientMessage, int] | None:
    if len(buf) < _DESKTOP_HEADER.size:
        return None
    _, width, height, count = _DESKTOP_HEADER.unpack_from(buf)
    if count == 0:
        raise RFBError("SetDesktopSize with no screens")
    end = _DESKTOP_HEADER.size + count * _SCREEN.size
    if len(buf) < end:
        return None
    screens = tuple(
        _SCREEN.unpack_from(buf, _DESKTOP_HEADER.size + i * _SCREEN.size) for i in range(count)
    )
    return SetDesktopSize(width, height, screens), end
