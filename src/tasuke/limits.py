"""Every size, rate, timeout and queue length in Tasuke, in one place.

Each limit has a test that exceeds it. Sizes are bytes, times are seconds.
"""

from typing import Final

KIB: Final = 1024
MIB: Final = 1024 * KIB

# --- Session numbers -------------------------------------------------------
SESSION_NUMBER_DIGITS: Final = 9
"""Digits in a session number (about 30 bits: guessing one live number is hopeless)."""
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
"""Failed joins allowed per source network (IPv4 /24, IPv6 /64) per minute."""
MAX_SESSION_CONTROL_MESSAGES: Final = 32
"""Control (text) frames both legs together may send in one session after the opening; a
session needs a handful (consent, verified, end), so more is a flood and ends the session."""
RELAY_STALL_TIMEOUT: Final = 30.0
"""A binary frame (or control notice) that waits this long for the other leg to take it ends
the session: that leg stopped reading. Long enough for one full frame over a slow link."""
PING_INTERVAL: Final = 20.0
"""Seconds between WebSocket pings on each leg."""
PING_TIMEOUT: Final = 20.0
"""A leg whose pong does not come within this time is closed."""
CLOSE_TIMEOUT: Final = 1.0
"""Time allowed for a WebSocket closing handshake; ends reach both sides within it."""

# --- End-to-end channel ------------------------------------------------------
MAX_RECORD_PLAINTEXT: Final = 1 * MIB
"""Largest plaintext (channel byte + payload) in one E2E record."""
MAX_HANDSHAKE_MESSAGE: Final = 4 * KIB
"""Largest E2E handshake message (COMMIT, ACCEPT, REVEAL, CONFIRM)."""
HANDSHAKE_TIMEOUT: Final = 30.0
"""An E2E handshake not confirmed within this time ends the session."""
MAX_CONTROL_MESSAGE: Final = 64 * KIB
"""Largest JSON message on E2E channel 0."""

# --- Consent ---------------------------------------------------------------
CONSENT_TIMEOUT: Final = 120.0
"""No answer to a consent prompt within this time means Deny."""

# --- RFB -------------------------------------------------------------------
MAX_CLIENT_CUT_TEXT: Final = 1 * MIB
"""Largest clipboard text an RFB viewer may send."""
MAX_SET_ENCODINGS: Final = 256
"""Most encodings an RFB viewer may list in one SetEncodings message."""
MAX_FRAMEBUFFER_DIM: Final = 16384
"""Largest screen width or height accepted from an agent or served over RFB."""
MAX_MONITORS: Final = 16
"""Most monitors the agent lists to the console for its selector (channel-0 `info` and
`monitors`), and the highest monitor number a console `monitor` request may name."""
RFB_SEND_CHUNK: Final = 256 * KIB
"""RFB bytes are cut into E2E records of at most this size."""
MAX_RFB_BUFFER: Final = 4 * MIB
"""Unparsed client bytes the RFB core buffers before it gives up."""
RFB_POLL_INTERVAL: Final = 1 / 30
"""While an update request is pending, the screen is captured at most this often (~30 fps)."""
RFB_INPUT_POLL_INTERVAL: Final = 0.004
"""Right after viewer input, capture this often, so a key's echo is sent without waiting
for the next regular poll."""
RFB_INPUT_POLL_WINDOW: Final = 0.06
"""How long after viewer input the faster polling lasts."""
RFB_IDLE_POLL_INTERVAL: Final = 0.1
"""Poll interval once the screen has been still for RFB_IDLE_AFTER; input ends it at once."""
RFB_IDLE_AFTER: Final = 0.25
"""Seconds without change after which the screen is polled at RFB_IDLE_POLL_INTERVAL."""
RFB_LOSSLESS_REFRESH_AFTER: Final = 1.0
"""A tile sent as JPEG (a photograph: more than 256 colours) and unchanged for this many seconds
is sent again as JPEG at the highest quality level without chroma subsampling (or exactly, if
it now fits a palette). Sooner, a picture replaced within the second (a slideshow, page
flipping) would be sent twice."""
RFB_FENCES_IN_FLIGHT: Final = 2
"""Continuous updates sent ahead of the viewer's Fence answers; past this the server waits,
so a slow viewer gets the newest screen instead of a backlog."""
RFB_CURSOR_POLL_INTERVAL: Final = 0.1
"""With damage hints and no damage, the pointer shape is asked for at most this often."""
RFB_EVENT_IDLE_POLL_INTERVAL: Final = 1.0
"""With change events from the screen source (X11 damage), a still screen is polled only
this often, as a safety net; events wake the engine at once."""
RFB_VIDEO_MIN_TILES: Final = 12
"""H.264 video mode: at least this many 64x64 tiles must keep
changing (about 50 000 pixels) before a region is sent as video."""
RFB_VIDEO_HOT_AFTER: Final = 0.5
"""A tile that has changed continuously (gaps below RFB_VIDEO_GAP) this long is video."""
RFB_VIDEO_GAP: Final = 0.25
"""Longer without a change ends a tile's streak of continuous change."""
RFB_VIDEO_SETTLE: Final = 0.5
"""A video region unchanged this long is sent again losslessly and video mode ends."""
RFB_VIDEO_MAX_PIXELS: Final = 3840 * 2160
"""The largest region encoded as one H.264 stream."""
RFB_VIDEO_LINK_SHARE: Final = 0.6
"""On a congested link, the H.264 stream's rate cap (x264 VBV) is this share of the measured
throughput: the rest is headroom for tiles around the video, the cursor and fences."""
RFB_STOP_WAIT: Final = 2.0
"""When a session ends, the capture, encode or input injection under way is waited for this
long before the screen and input are closed (one whole-screen encode takes well under this)."""

# --- Sign-in ---------------------------------------------------------------
SESSION_COOKIE_TTL: Final = 12 * 60 * 60
"""Absolute lifetime of an operator's sign-in, however active."""
MAX_FORM_BODY: Final = 64 * KIB
"""Largest request body the console accepts (forms and JSON)."""

# --- Server: sign-in, tickets, rate limits -----
PASSWORD_MIN_LENGTH: Final = 12
"""Shortest password an operator may choose."""
MAX_PASSWORD_LENGTH: Final = 1024
"""Longer passwords are refused before hashing, so argon2 cannot be used to burn CPU."""
MAX_USERNAME_LENGTH: Final = 64
"""Longest operator user name."""
MAX_DISPLAY_NAME_LENGTH: Final = 100
"""Longest operator display name (shown to customers)."""
LOGIN_FREE_FAILURES: Final = 3
"""Failed sign-ins per address or account before each further attempt must wait."""
LOGIN_FAILURE_BASE_DELAY: Final = 2.0
"""The wait after the first failure past the free ones; it doubles with each further failure."""
LOGIN_FAILURE_MAX_DELAY: Final = 300.0
"""The growing sign-in delay never exceeds this."""
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
MAX_TICKETS_PER_OPERATOR: Final = 20
"""Unspent console tickets one operator may hold, so one account cannot take them all."""
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
AGENT_RFB_INPUT_QUEUE: Final = 1024
"""Channel-1 records from the console waiting for the screen engine; one more ends the
session (the agent never stops reading, so that an end is always heard)."""
AGENT_RFB_INPUT_BYTES: Final = 4 * MIB
"""Channel-1 bytes from the console waiting for the screen engine; more ends the session."""
AGENT_END_GRACE: Final = 0.5
"""Time the agent spends telling the peers goodbye before it closes the connection."""

# --- Server: second factor, trusted browsers, session timeouts ----
SESSION_IDLE_TIMEOUT: Final = 30 * 60
"""A sign-in session unused for this long is over (SESSION_COOKIE_TTL is the absolute limit)."""
SESSION_TOUCH_INTERVAL: Final = 60.0
"""A sign-in session's last-used time is written at most this often (one write per minute)."""
SECOND_FACTOR_TIMEOUT: Final = 5 * 60
"""A half-signed-in session (password accepted, second factor pending) lasts this long."""
ENROL_TIMEOUT: Final = 15 * 60
"""A sign-in kept on the enrolment pages (an admin requires a second factor) lasts this long."""
TOTP_STEP: Final = 30
"""Seconds per TOTP time step (RFC 6238 default; what authenticator apps use)."""
TOTP_DIGITS: Final = 6
"""Digits of a TOTP code (RFC 6238; what authenticator apps show)."""
TOTP_VALID_WINDOW: Final = 1
"""Time steps of clock drift accepted either side of the current one."""
RECOVERY_CODES: Final = 10
"""Recovery codes issued at once; each works once."""
RECOVERY_CODE_BYTES: Final = 10
"""Random bytes per recovery code (80 bits, shown as 16 base32 characters)."""
MAX_SECOND_FACTOR_INPUT: Final = 64
"""Longer TOTP or recovery code inputs are refused before any work."""
MAX_WEBAUTHN_RESPONSE: Final = 16 * KIB
"""Largest WebAuthn credential JSON accepted from the browser."""
MAX_WEBAUTHN_CREDENTIALS: Final = 10
"""Security keys or passkeys one operator may register."""
WEBAUTHN_CEREMONY_TTL: Final = 120.0
"""A WebAuthn challenge must be answered within this many seconds."""
MAX_WEBAUTHN_CHALLENGES: Final = 10_000
"""Outstanding WebAuthn challenges held in memory; the oldest are dropped first."""
TRUSTED_BROWSER_DAYS: Final = 30
"""A browser remembered after a second-factor sign-in skips the second factor this many days."""
MAX_TRUSTED_BROWSERS: Final = 20
"""Trusted browsers per operator; trusting one more forgets the oldest."""
MAX_DEVICE_LABEL: Final = 100
"""A trusted browser's label (a summary of its user agent) is cut to this many characters."""
LOGIN_NETWORK_PREFIX_V4: Final = 24
"""Failed sign-ins are counted per IPv4 /24 network, so neighbouring addresses share a count."""
LOGIN_NETWORK_PREFIX_V6: Final = 64
"""Failed sign-ins are counted per IPv6 /64 network (what one customer line usually gets)."""

# --- administration (roles, network lists, audit log) ---------------------------------------
BLOCKED_AUDIT_INTERVAL: Final = 600.0
"""A refused (block-listed) agent address is written to the audit log at most once per this many
seconds, so a flood of refused connections cannot fill the log."""
AUDIT_PAGE_SIZE: Final = 100
"""Audit log entries shown per page in the console."""
MAX_NETWORK_NOTE: Final = 200
"""Length of the note an admin keeps with an allowed or blocked network."""

# --- Server: hardening -----------------------------------------
THROTTLED_AUDIT_INTERVAL: Final = 60.0
"""A sign-in attempt turned away by the throttle is written to the audit log
(``signin.throttled``) at most once per source network per this many seconds, so a flood of
refused guesses cannot fill the log."""
MAX_FAILED_JOINS_SERVER_PER_MINUTE: Final = 300
"""Failed joins (wrong, expired or used session numbers) the whole server accepts per
JOIN_RATE_WINDOW, whatever their sources; past it every join waits, so a guesser spread over
many networks still gets only this many guesses a minute."""
OPERATOR_RECHECK_INTERVAL: Final = 5.0
"""A live console leg re-reads its operator this often; disabled, or the password or second
factor reset (from another process, such as ``tasuke operator``), ends the session."""
MAX_FORM_FIELDS: Final = 50
"""Fields a form may have before the CSRF check parses it; more is refused (400)."""
