"""Numbers fixed by RFC 6143 and the RFB registry (IANA "RFB encoding types").

Kept in one module so the parser, the encoders and the tests agree on them.
"""

from typing import Final

__all__ = [
    "ENC_CURSOR",
    "ENC_DESKTOP_SIZE",
    "ENC_JPEG_QUALITY_MAX",
    "ENC_JPEG_QUALITY_MIN",
    "ENC_QEMU_EXTENDED_KEY",
    "ENC_RAW",
    "ENC_TIGHT",
    "ENC_ZLIB_LEVEL_MAX",
    "ENC_ZLIB_LEVEL_MIN",
    "MSG_CLIENT_CUT_TEXT",
    "MSG_FRAMEBUFFER_UPDATE",
    "MSG_FRAMEBUFFER_UPDATE_REQUEST",
    "MSG_KEY_EVENT",
    "MSG_POINTER_EVENT",
    "MSG_QEMU",
    "MSG_SET_ENCODINGS",
    "MSG_SET_PIXEL_FORMAT",
    "QEMU_EXTENDED_KEY_EVENT",
    "SECURITY_NONE",
    "SERVER_VERSION",
]

SERVER_VERSION: Final = b"RFB 003.008\n"
SECURITY_NONE: Final = 1

# Client-to-server message types (RFC 6143 section 7.5).
MSG_SET_PIXEL_FORMAT: Final = 0
MSG_SET_ENCODINGS: Final = 2
MSG_FRAMEBUFFER_UPDATE_REQUEST: Final = 3
MSG_KEY_EVENT: Final = 4
MSG_POINTER_EVENT: Final = 5
MSG_CLIENT_CUT_TEXT: Final = 6
MSG_QEMU: Final = 255
"""QEMU client message; sub-type 0 is the extended key event (keysym plus scan code)."""
QEMU_EXTENDED_KEY_EVENT: Final = 0

# Server-to-client message types (RFC 6143 section 7.6).
MSG_FRAMEBUFFER_UPDATE: Final = 0

# Encodings (RFC 6143 section 7.7 and 7.8; IANA registry).
ENC_RAW: Final = 0
ENC_TIGHT: Final = 7
ENC_CURSOR: Final = -239
ENC_DESKTOP_SIZE: Final = -223
ENC_QEMU_EXTENDED_KEY: Final = -258
ENC_JPEG_QUALITY_MIN: Final = -32
"""JPEG quality level 0 (lowest); level 9 is -23."""
ENC_JPEG_QUALITY_MAX: Final = -23
ENC_ZLIB_LEVEL_MIN: Final = -256
"""Tight compression level 0; level 9 is -247."""
ENC_ZLIB_LEVEL_MAX: Final = -247
