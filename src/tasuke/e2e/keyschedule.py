"""Transcript, key schedule, key confirmation and the verification code (SAS).

Everything here is a pure function of its arguments so that the known-answer vectors can pin
each step. The exact byte strings are normative: docs/protocol.md section 2.4.
"""

import hashlib
import hmac
import struct
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tasuke.e2e.wire import PROTOCOL_VERSION, Suite

__all__ = [
    "CONFIRM_LABEL_AGENT",
    "CONFIRM_LABEL_CONSOLE",
    "INFO_AGENT_TO_CONSOLE",
    "INFO_CONFIRM",
    "INFO_CONSOLE_TO_AGENT",
    "INFO_SAS",
    "TRANSCRIPT_LABEL",
    "KeySchedule",
    "commitment",
    "confirmation_mac",
    "derive",
    "sas_digits",
    "transcript",
]

TRANSCRIPT_LABEL: Final = b"tasuke-e2e v1 transcript"
INFO_AGENT_TO_CONSOLE: Final = b"tasuke-e2e v1 key agent to console"
INFO_CONSOLE_TO_AGENT: Final = b"tasuke-e2e v1 key console to agent"
INFO_CONFIRM: Final = b"tasuke-e2e v1 confirm"
INFO_SAS: Final = b"tasuke-e2e v1 sas"
CONFIRM_LABEL_AGENT: Final = b"tasuke-e2e v1 confirm agent"
CONFIRM_LABEL_CONSOLE: Final = b"tasuke-e2e v1 confirm console"
ROLE_AGENT: Final = b"agent"
ROLE_CONSOLE: Final = b"console"
SAS_MODULUS: Final = 1_000_000


def commitment(suite: Suite, public_key: bytes) -> bytes:
    """SHA-256(suite id || public key): what the agent's Commit holds for each offer."""
    return hashlib.sha256(bytes([suite]) + public_key).digest()


def transcript(
    session_id: bytes,
    commit_frame: bytes,
    suite: Suite,
    agent_public: bytes,
    console_public: bytes,
) -> bytes:
    """Encode the handshake transcript, each field prefixed by its 2-byte big-endian length.

    The whole Commit frame is part of it, so removing a suite from the agent's offer (a
    downgrade) changes every key. Length prefixes make the encoding unambiguous.
    """
    fields = (
        TRANSCRIPT_LABEL,
        bytes([PROTOCOL_VERSION]),
        session_id,
        commit_frame,
        bytes([suite]),
        ROLE_AGENT,
        agent_public,
        ROLE_CONSOLE,
        console_public,
    )
    return b"".join(struct.pack("!H", len(field)) + field for field in fields)


@dataclass(slots=True)
class KeySchedule:
    """The four 32-byte outputs of HKDF-SHA256, plus the transcript hash they are bound to."""

    transcript_hash: bytes
    agent_to_console: bytes
    console_to_agent: bytes
    confirm: bytes
    sas: bytes


def _hkdf(shared_secret: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(shared_secret)


def derive(shared_secret: bytes, transcript_bytes: bytes) -> KeySchedule:
    """Run HKDF-SHA256 with salt = SHA-256(transcript) once per output label."""
    salt = hashlib.sha256(transcript_bytes).digest()
    return KeySchedule(
        transcript_hash=salt,
        agent_to_console=_hkdf(shared_secret, salt, INFO_AGENT_TO_CONSOLE),
        console_to_agent=_hkdf(shared_secret, salt, INFO_CONSOLE_TO_AGENT),
        confirm=_hkdf(shared_secret, salt, INFO_CONFIRM),
        sas=_hkdf(shared_secret, salt, INFO_SAS),
    )


def confirmation_mac(confirm_key: bytes, transcript_hash: bytes, *, agent: bool) -> bytes:
    """HMAC-SHA256(confirm key, role label || transcript hash) for the agent or the console."""
    label = CONFIRM_LABEL_AGENT if agent else CONFIRM_LABEL_CONSOLE
    return hmac.new(confirm_key, label + transcript_hash, hashlib.sha256).digest()


def sas_digits(sas_key: bytes) -> str:
    """The 6-digit verification code: first 8 bytes of the SAS key, big-endian, mod 10^6.

    A 64-bit value reduced mod 10^6 is uniform to within 2^-44, far below the 10^-6 chance
    that an attacker's guess matches.
    """
    (value,) = struct.unpack("!Q", sas_key[:8])
    return f"{value % SAS_MODULUS:06d}"
