"""Check the server's signed grant before trusting anything in it.

The welcome carries the operator's name and organisation, the session id, the
expiry and the requested permissions as JSON bytes signed with the server's
Ed25519 key (docs/protocol.md, 1.1). The agent shows the operator's identity in
the consent window only after the signature checks out, the grant has not
expired, and it names the session the server just welcomed us into.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tasuke.errors import ProtocolError, Refused

__all__ = ["Grant", "b64url_decode", "verify_welcome"]

_MAX_NAME = 200
_SESSION_ID_HEX = 32


@dataclass(frozen=True, slots=True)
class Grant:
    """What the server vouches for, after the signature was verified."""

    session_id: str
    operator: str
    organisation: str
    permissions: tuple[str, ...]
    expires: float
    server: str
    server_key: bytes


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding.

    Raises:
        ProtocolError: not base64url.
    """
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError("welcome: field is not base64url") from exc


def _text(message: dict[str, Any], key: str) -> str:
    value = message.get(key)
    if not isinstance(value, str):
        raise ProtocolError(f"welcome: {key} missing or not a string")
    return value


def verify_welcome(message: dict[str, Any], *, now: float) -> Grant:
    """Verify a ``welcome`` message and return the grant it carries.

    ``now`` is wall-clock time (seconds since the epoch), injected for tests.

    Raises:
        ProtocolError: a field is missing or malformed.
        Refused: the signature is invalid, the grant has expired, or it names
            another session than the one welcomed.
    """
    session_id = _text(message, "session_id").lower()
    if len(session_id) != _SESSION_ID_HEX or any(c not in "0123456789abcdef" for c in session_id):
        raise ProtocolError("welcome: session_id is not 32 hex characters")
    grant_bytes = b64url_decode(_text(message, "grant"))
    signature = b64url_decode(_text(message, "signature"))
    key_bytes = b64url_decode(_text(message, "server_key"))
    try:
        key = Ed25519PublicKey.from_public_bytes(key_bytes)
    except ValueError as exc:
        raise ProtocolError("welcome: server_key is not an Ed25519 public key") from exc
    try:
        key.verify(signature, grant_bytes)
    except InvalidSignature as exc:
        raise Refused("the server's signature on the session grant is invalid") from exc
    try:
        grant = json.loads(grant_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError("welcome: grant is not UTF-8 JSON") from exc
    if not isinstance(grant, dict):
        raise ProtocolError("welcome: grant is not a JSON object")
    if str(grant.get("session_id", "")).lower() != session_id:
        raise Refused("the signed grant is for a different session")
    expires = grant.get("expires")
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        raise ProtocolError("welcome: grant expiry missing")
    if expires <= now:
        raise Refused("the signed session grant has expired")
    permissions = grant.get("permissions", [])
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise ProtocolError("welcome: grant permissions malformed")
    return Grant(
        session_id=session_id,
        operator=_text(grant, "operator")[:_MAX_NAME],
        organisation=str(grant.get("organisation") or "")[:_MAX_NAME],
        permissions=tuple(permissions),
        expires=float(expires),
        server=str(grant.get("server") or ""),
        server_key=key_bytes,
    )
