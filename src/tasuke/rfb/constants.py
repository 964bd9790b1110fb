"""Numbers fixed by RFC 6143 and the RFB registry (IANA "RFB encoding types").

Kept in one module so the parser, the encoders and the tests agree on them.
"""

from typing import Final

__all__ = [
    "ENC_CONTINUOUS_UPDATES",
    "ENC_COPYRECT",
    "ENC_CURSOR",
    "ENC_DESKTOP_SIZE",
    "ENC_EXTENDED_DESKTOP_SIZE",
    "ENC_FENCE",
    "ENC_H264",
    "ENC_JPEG_QUALITY_MAX",
    "ENC_JPEG_QUALITY_MIN",
    "ENC_QEMU_EXTENDED_KEY",
    "ENC_RAW",
    "ENC_TIGHT",
    "ENC_ZLIB_LEVEL_MAX",
    "ENC_ZLIB_LEVEL_MIN",
    "ENC_ZRLE",
    "FENCE_BLOCK_AFTER",
    "FENCE_BLOCK_BEFORE",
    "FENCE_MAX_PAYLOAD",
    "FENCE_REQUEST",
    "FENCE_SYNC_NEXT",
    "MSG_CLIENT_CUT_TEXT",
    "MSG_ENABLE_CONTINUOUS_UPDATES",
    "MSG_END_OF_CONTINUOUS_UPDATES",
    "MSG_FENCE",
    "MSG_FRAMEBUFFER_UPDATE",
    "MSG_FRAMEBUFFER_UPDATE_REQUEST",
    "MSG_KEY_EVENT",
    "MSG_POINTER_EVENT",
    "MSG_QEMU",
    "MSG_SET_DESKTOP_SIZE",
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
MSG_ENABLE_CONTINUOUS_UPDATES: Final = 150
"""rfbproto community extension: the client turns continuous updates on or off."""
MSG_SET_DESKTOP_SIZE: Final = 251
"""rfbproto ExtendedDesktopSize: the client asks for another screen layout."""
MSG_FENCE: Final = 248
"""rfbproto community extension (ClientFence / ServerFence, same layout both ways)."""
MSG_QEMU: Final = 255
"""QEMU client message; sub-type 0 is the extended key event (keysym plus scan code)."""
QEMU_EXTENDED_KEY_EVENT: Final = 0

# Server-to-client message types (RFC 6143 section 7.6).
MSG_FRAMEBUFFER_UPDATE: Final = 0
MSG_END_OF_CONTINUOUS_UPDATES: Final = 150

# Fence flags (rfbproto "ClientFence"); the payload is at most 64 bytes.
FENCE_BLOCK_BEFORE: Final = 1 << 0
FENCE_BLOCK_AFTER: Final = 1 << 1
FENCE_SYNC_NEXT: Final = 1 << 2
FENCE_REQUEST: Final = 1 << 31
FENCE_MAX_PAYLOAD: Final = 64

# Encodings (RFC 6143 section 7.7 and 7.8; IANA registry).
ENC_RAW: Final = 0
ENC_COPYRECT: Final = 1
ENC_TIGHT: Final = 7
ENC_ZRLE: Final = 16
ENC_H264: Final = 50
"""H.264 rectangles as noVNC 1.7 decodes them (U32 length, U32 flags, Annex-B stream)."""
ENC_CURSOR: Final = -239
ENC_DESKTOP_SIZE: Final = -223
ENC_EXTENDED_DESKTOP_SIZE: Final = -308
ENC_QEMU_EXTENDED_KEY: Final = -258
ENC_FENCE: Final = -312
ENC_CONTINUOUS_UPDATES: Final = -313
ENC_JPEG_QUALITY_MIN: Final = -32
"""JPEG quality level 0 (lowest); level 9 is -23."""
ENC_JPEG_QUALITY_MAX: Final = -23
ENC_ZLIB_LEVEL_MIN: Final = -256
"""Tight compression level 0; level 9 is -247."""
ENC_ZLIB_LEVEL_MAX: Final = -247
