"""Byte layouts and constants of the end-to-end data plane (docs/protocol.md section 2).

Every binary WebSocket frame between agent and console is one message; its first byte is the
message type. This module only turns bytes into checked values and back: it knows nothing about
keys or state. The JS twin (``static/js/e2e.js``) carries the same constants; the known-answer
vectors in ``tests/vectors/e2e.json`` hold them too, so a drift fails the tests of both sides.
"""

import enum
import struct
from dataclasses import dataclass
from typing import Final

from tasuke import limits
from tasuke.errors import E2EError

__all__ = [
    "CHANNELS",
    "CHANNEL_CONTROL",
    "CHANNEL_RFB",
    "COMMITMENT_LENGTH",
    "DIRECTION_AGENT_TO_CONSOLE",
    "DIRECTION_CONSOLE_TO_AGENT",
    "MAC_LENGTH",
    "MAX_OFFERED_SUITES",
    "MAX_RECORD_FRAME",
    "MIN_RECORD_FRAME",
    "PROTOCOL_VERSION",
    "PUBLIC_KEY_LENGTH",
    "RECORD_HEADER_LENGTH",
    "SESSION_ID_LENGTH",
    "TAG_LENGTH",
    "Commit",
    "MessageType",
    "Suite",
    "encode_accept",
    "encode_commit",
    "encode_confirm",
    "encode_reveal",
    "parse_accept",
    "parse_commit",
    "parse_confirm",
    "parse_reveal",
]

PROTOCOL_VERSION: Final = 1
SESSION_ID_LENGTH: Final = 16
COMMITMENT_LENGTH: Final = 32
MAC_LENGTH: Final = 32
TAG_LENGTH: Final = 16
MAX_OFFERED_SUITES: Final = 8
"""A Commit may list at most this many suites (unknown ones included)."""

CHANNEL_CONTROL: Final = 0
"""Channel 0: session control, one UTF-8 JSON object per record."""
CHANNEL_RFB: Final = 1
"""Channel 1: the RFB byte stream (agent = RFB server, console = RFB client)."""
CHANNELS: Final = frozenset({CHANNEL_CONTROL, CHANNEL_RFB})
"""Channels this version knows; a record for any other channel ends the session."""

# The direction constant is the first 4 bytes of every nonce and part of the AAD. The two
# directions already use different keys; the constant keeps nonces distinct even if a bug
# ever made the keys equal.
DIRECTION_AGENT_TO_CONSOLE: Final = b"\x00\x00\x00\x01"
DIRECTION_CONSOLE_TO_AGENT: Final = b"\x00\x00\x00\x02"

RECORD_HEADER_LENGTH: Final = 1 + 8
"""Message type byte and the 8-byte big-endian sequence number."""
MIN_RECORD_FRAME: Final = RECORD_HEADER_LENGTH + 1 + TAG_LENGTH
"""A record carries at least its channel byte."""
MAX_RECORD_FRAME: Final = RECORD_HEADER_LENGTH + limits.MAX_RECORD_PLAINTEXT + TAG_LENGTH

assert limits.MAX_BINARY_FRAME >= MAX_RECORD_FRAME


class MessageType(enum.IntEnum):
    """The first byte of each data-plane frame."""

    COMMIT = 0x01
    ACCEPT = 0x02
    REVEAL = 0x03
    CONFIRM = 0x04
    RECORD = 0x10


class Suite(enum.IntEnum):
    """Key-agreement suites, in the order an agent prefers them by default."""

    X25519 = 0x01
    P256 = 0x02


PUBLIC_KEY_LENGTH: Final[dict[Suite, int]] = {
    Suite.X25519: 32,  # RFC 7748 u-coordinate
    Suite.P256: 65,  # SEC 1 uncompressed point: 0x04 || X || Y
}


@dataclass(frozen=True, slots=True)
class Commit:
    """A parsed Commit: the agent's offered suites, in its order of preference."""

    offers: tuple[tuple[int, bytes], ...]
    """(suite id, SHA-256(suite id || public key)); suite ids may be unknown to us."""


def encode_commit(offers: list[tuple[Suite, bytes]]) -> bytes:
    """Build a Commit frame: type, version, count, then (suite, commitment) per offer."""
    body = b"".join(bytes([suite]) + commitment for suite, commitment in offers)
    return struct.pack("!BBB", MessageType.COMMIT, PROTOCOL_VERSION, len(offers)) + body


def parse_commit(frame: bytes) -> Commit:
    """Parse a Commit frame.

    Raises:
        E2EError: wrong version, bad count, wrong length or a suite listed twice.
    """
    if len(frame) < 3:
        raise E2EError("truncated commit")
    version, count = frame[1], frame[2]
    if version != PROTOCOL_VERSION:
        raise E2EError(f"unsupported protocol version {version}")
    if not 1 <= count <= MAX_OFFERED_SUITES:
        raise E2EError("commit must offer 1 to 8 suites")
    entry = 1 + COMMITMENT_LENGTH
    if len(frame) != 3 + count * entry:
        raise E2EError("commit has the wrong length")
    offers = tuple((frame[i], bytes(frame[i + 1 : i + entry])) for i in range(3, len(frame), entry))
    if len({suite for suite, _ in offers}) != count:
        raise E2EError("commit lists a suite twice")
    return Commit(offers)


def encode_accept(suite: Suite, public_key: bytes) -> bytes:
    """Build an Accept frame: type, chosen suite, the console's public key."""
    return bytes([MessageType.ACCEPT, suite]) + public_key


def parse_accept(frame: bytes) -> tuple[Suite, bytes]:
    """Parse an Accept frame into (suite, console public key).

    Raises:
        E2EError: unknown suite or a key of the wrong length.
    """
    if len(frame) < 2:
        raise E2EError("truncated accept")
    try:
        suite = Suite(frame[1])
    except ValueError:
        raise E2EError(f"unknown suite {frame[1]}") from None
    key = bytes(frame[2:])
    if len(key) != PUBLIC_KEY_LENGTH[suite]:
        raise E2EError("accept has a public key of the wrong length")
    return suite, key


def encode_reveal(public_key: bytes) -> bytes:
    """Build a Reveal frame: type, the agent's public key for the chosen suite."""
    return bytes([MessageType.REVEAL]) + public_key


def parse_reveal(frame: bytes, suite: Suite) -> bytes:
    """Return the agent public key carried by a Reveal frame for ``suite``.

    Raises:
        E2EError: the key has the wrong length for the suite.
    """
    if len(frame) != 1 + PUBLIC_KEY_LENGTH[suite]:
        raise E2EError("reveal has a public key of the wrong length")
    return bytes(frame[1:])


def encode_confirm(mac: bytes) -> bytes:
    """Build a Confirm frame: type, the sender's key-confirmation MAC."""
    return bytes([MessageType.CONFIRM]) + mac


def parse_confirm(frame: bytes) -> bytes:
    """Return the MAC carried by a Confirm frame.

    Raises:
        E2EError: the frame has the wrong length.
    """
    if len(frame) != 1 + MAC_LENGTH:
        raise E2EError("confirm has the wrong length")
    return bytes(frame[1:])
