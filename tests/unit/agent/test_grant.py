"""The server's signed grant is verified before anything in it is shown."""

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tasuke.agent.grant import verify_welcome
from tasuke.errors import ProtocolError, Refused

NOW = 1_767_000_000.0
SESSION = "0123456789abcdef0123456789abcdef"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def welcome(
    key: Ed25519PrivateKey | None = None, *, signer: Ed25519PrivateKey | None = None, **grant: Any
) -> dict[str, Any]:
    key = key or Ed25519PrivateKey.generate()
    body = {
        "session_id": SESSION,
        "operator": "Sato Hanako",
        "organisation": "Example Help Desk",
        "permissions": ["view", "control"],
        "expires": NOW + 600,
        "server": "https://support.example",
    }
    body.update(grant)
    raw = json.dumps(body).encode()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {
        "type": "welcome",
        "session_id": SESSION,
        "grant": b64(raw),
        "signature": b64((signer or key).sign(raw)),
        "server_key": b64(public),
    }


def test_a_valid_grant_is_returned() -> None:
    grant = verify_welcome(welcome(), now=NOW)
    assert grant.operator == "Sato Hanako"
    assert grant.organisation == "Example Help Desk"
    assert grant.permissions == ("view", "control")
    assert grant.session_id == SESSION


def test_a_signature_by_another_key_is_refused() -> None:
    with pytest.raises(Refused, match="signature"):
        verify_welcome(welcome(signer=Ed25519PrivateKey.generate()), now=NOW)


def test_a_grant_changed_after_signing_is_refused() -> None:
    message = welcome()
    raw = base64.urlsafe_b64decode(message["grant"] + "==")
    message["grant"] = b64(raw.replace(b"Sato Hanako", b"Bank Manager"))
    with pytest.raises(Refused, match="signature"):
        verify_welcome(message, now=NOW)


def test_an_expired_grant_is_refused() -> None:
    with pytest.raises(Refused, match="expired"):
        verify_welcome(welcome(expires=NOW - 1), now=NOW)


def test_a_grant_for_another_session_is_refused() -> None:
    with pytest.raises(Refused, match="different session"):
        verify_welcome(welcome(session_id="f" * 32), now=NOW)


@pytest.mark.parametrize(
    "damage",
    [
        {"grant": "***"},
        {"server_key": b64(b"short")},
        {"signature": None},
        {"session_id": "xyz"},
    ],
)
def test_malformed_welcomes_are_protocol_errors(damage: dict[str, Any]) -> None:
    message = welcome()
    message.update(damage)
    with pytest.raises((ProtocolError, Refused)):
        verify_welcome(message, now=NOW)


def test_a_grant_without_expiry_is_refused() -> None:
    with pytest.raises(ProtocolError, match="expiry"):
        verify_welcome(welcome(expires=None), now=NOW)
