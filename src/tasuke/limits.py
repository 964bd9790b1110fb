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
RFB_POLL_INTERVAL: Final = 1 / 30
"""While an update request is pending, the screen is captured at most this often (~30 fps)."""

# --- Sign-in ---------------------------------------------------------------
SESSION_COOKIE_TTL: Final = 12 * 60 * 60
MAX_FORM_BODY: Final = 64 * KIB

# --- Server: sign-in, tickets, rate limits (added by the server helper) -----
PASSWORD_MIN_LENGTH: Final = 12
"""Shortest password an operator may choose."""
MAX_PASSWORD_LENGTH: Final = 1024
"""Longer passwords are refused before hashing, so argon2 cannot be used to burn CPU."""
MAX_USERNAME_LENGTH: Final = 64
MAX_DISPLAY_NAME_LENGTH: Final = 100
LOGIN_FREE_FAILURES: Final = 3
"""Failed sign-ins per address or account before each further attempt must wait."""
LOGIN_FAILURE_BASE_DELAY: Final = 2.0
"""The wait after the first failure past the free ones; it doubles with each further failure."""
LOGIN_FAILURE_MAX_DELAY: Final = 300.0
LOGIN_FAILURE_WINDOW: Final = 15 * 60
"""Failed sign-ins older than this are forgotten."""
LOGIN_CSRF_TTL: Final = 60 * 60
"""The pre-sign-in CSRF cookie of the login form is valid this long."""
MAX_THROTTLE_KEYS: Final = 10_000
"""Addresses and accounts one throttle remembers; the oldest are forgotten first."""
JOIN_RATE_WINDOW: Final = 60.0
"""Window over which JOIN_ATTEMPTS_PER_MINUTE failed joins are counted."""
MAX_LIVE_TICKETS: Final = 10_000
"""Unspent console tickets held in memory; minting more refuses."""
GRANT_TTL: Final = 10 * 60
"""A signed grant is valid this long after the agent joined."""
MAX_AGENT_STRING: Final = 200
"""Agent-supplied strings (OS, host name, version) are cut to this many characters."""
MAX_END_REASON: Final = 200
"""An end reason sent by an endpoint is cut to this many characters."""
MAX_SESSIONS_LISTED: Final = 200
"""Sessions shown on the dashboard, newest first."""

# --- Agent -------------------------------------------------------------------
CONSENT_ARM_DELAY: Final = 0.8
"""The consent window's buttons stay disabled this long after it appears, so a click
meant for another window cannot land on Allow."""
AGENT_RFB_INPUT_QUEUE: Final = 64
"""Channel-1 records from the console buffered before the agent stops reading."""
AGENT_END_GRACE: Final = 0.5
"""Time the agent spends telling the peers goodbye before it closes the connection."""
