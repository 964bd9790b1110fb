"""The server's Ed25519 key: it signs the grants that agents show in the consent window."""

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tasuke.errors import ConfigError

__all__ = ["SignedGrant", "b64url", "load_or_create_key", "public_key_bytes", "sign_grant"]


def b64url(data: bytes) -> str:
    """base64url (RFC 4648 section 5) with padding, as every grant field is encoded."""
    return base64.urlsafe_b64encode(data).decode("ascii")


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """Load the signing key, creating it (mode 0600, never overwritten) on first start.

    Raises:
        ConfigError: the file exists but is not an unencrypted Ed25519 PEM key.
    """
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must not each write a different key.
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return load_or_create_key(path)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        return key
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is not a readable private key: {exc}") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 key")
    return loaded


def public_key_bytes(key: Ed25519PrivateKey) -> bytes:
    """The raw 32-byte public key."""
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class SignedGrant:
    """The grant bytes and their signature, ready for the welcome message."""

    grant: bytes
    signature: bytes
    server_key: bytes

    def welcome_fields(self) -> dict[str, str]:
        """The ``grant``, ``signature`` and ``server_key`` fields of the welcome message."""
        return {
            "grant": b64url(self.grant),
            "signature": b64url(self.signature),
            "server_key": b64url(self.server_key),
        }


def sign_grant(key: Ed25519PrivateKey, grant: dict[str, Any]) -> SignedGrant:
    """Serialise ``grant`` as canonical JSON (sorted keys, no spaces, UTF-8) and sign it."""
    data = json.dumps(grant, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return SignedGrant(grant=data, signature=key.sign(data), server_key=public_key_bytes(key))
