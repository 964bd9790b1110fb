"""Every size, rate, timeout and queue length in Tasuke, in one place.

Each limit has a test that exceeds it. Sizes are bytes, times are seconds.
"""

from typing import Final

KIB: Final = 1024
MIB: Final = 1024 * KIB

# --- Session numbers -------------------------------------------------------
SESSION_NUMBER_DIGITS: Final = 9
SESSION_NUMBER_TTL: Final = 10 * 60
"""A session number is valid for this long after the operator creates it."""

# --- WebSocket legs (server side) ------------------------------------------
MAX_TEXT_FRAME: Final = 16 * KIB
"""Largest control-plane (JSON text) frame accepted from an endpoint."""
MAX_BINARY_FRAME: Final = 1 * MIB + 64
"""Largest data-plane frame: one E2E record of MAX_RECORD_PLAINTEXT plus overhead."""
MAX_SESSION_BYTES: Final = 64 * 1024 * MIB
"""Bytes one session may relay in total before the server ends it."""
MAX_SESSION_FRAMES: Final = 50_000_000
"""Frames one session may relay in total before the server ends it."""
HELLO_TIMEOUT: Final = 10.0
"""An endpoint must send its hello within this many seconds of connecting."""
PEER_WAIT_TIMEOUT: Final = 10 * 60
"""A leg waits at most this long for the other leg to arrive."""
WS_TICKET_TTL: Final = 30.0
"""A console WebSocket ticket must be spent within this many seconds."""
JOIN_ATTEMPTS_PER_MINUTE: Final = 10
"""Failed joins allowed per source address per minute."""
PING_INTERVAL: Final = 20.0
PING_TIMEOUT: Final = 20.0
CLOSE_TIMEOUT: Final = 1.0

# --- End-to-end channel ------------------------------------------------------
MAX_RECORD_PLAINTEXT: Final = 1 * MIB
"""Largest plaintext (channel byte + payload) in one E2E record."""
MAX_HANDSHAKE_MESSAGE: Final = 4 * KIB
HANDSHAKE_TIMEOUT: Final = 30.0
MAX_CONTROL_MESSAGE: Final = 64 * KIB
"""Largest JSON message on E2E channel 0."""

# --- Consent ---------------------------------------------------------------
CONSENT_TIMEOUT: Final = 120.0
"""No answer to a consent prompt within this time means Deny."""

# --- RFB -------------------------------------------------------------------
MAX_CLIENT_CUT_TEXT: Final = 1 * MIB
MAX_SET_ENCODINGS: Final = 256
MAX_FRAMEBUFFER_DIM: Final = 16384
RFB_SEND_CHUNK: Final = 256 * KIB
"""RFB bytes are cut into E2E records of at most this size."""
MAX_RFB_BUFFER: Final = 4 * MIB
"""Unparsed client bytes the RFB core buffers before it gives up."""

# --- Sign-in ---------------------------------------------------------------
SESSION_COOKIE_TTL: Final = 12 * 60 * 60
MAX_FORM_BODY: Final = 64 * KIB
