"""The WebAuthn relying party: registration and authentication ceremonies (py_webauthn).

The RP id is the public URL's host and the expected origin its origin, both from
:class:`~tasuke.server.settings.Settings`, so a key registered on one server name cannot sign
in on another. Challenges are random, single use and short-lived, held in memory per sign-in
session (:class:`Challenges`). Every error of the library is translated into
:class:`tasuke.errors.Refused` here, at one boundary.
"""

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from tasuke import limits
from tasuke.errors import Refused
from tasuke.server.deps import Clock, Random
from tasuke.server.settings import Settings

__all__ = [
    "Challenges",
    "NewCredential",
    "authentication_options",
    "credential_id_of",
    "registration_options",
    "rp_id",
    "verify_authentication",
    "verify_registration",
]


def rp_id(settings: Settings) -> str:
    """The relying party id: the host of the public URL (browsers refuse IP addresses)."""
    host = urlsplit(settings.url).hostname
    if not host:  # Settings already refuses such a URL; this keeps mypy and readers sure
        raise Refused("the public URL has no host")
    return host


class Challenges:
    """Outstanding challenges by (sign-in session, purpose); each can be taken once."""

    def __init__(
        self,
        clock: Clock,
        rng: Random,
        *,
        ttl: float = limits.WEBAUTHN_CEREMONY_TTL,
        capacity: int = limits.MAX_WEBAUTHN_CHALLENGES,
    ) -> None:
        self._clock, self._rng, self._ttl, self._capacity = clock, rng, ttl, capacity
        self._items: OrderedDict[tuple[str, str], tuple[bytes, float]] = OrderedDict()

    def new(self, owner: str, purpose: str) -> bytes:
        """A fresh 32-byte challenge for ``owner`` (a sign-in session's token hash)."""
        challenge = self._rng(32)
        key = (owner, purpose)
        self._items.pop(key, None)
        self._items[key] = (challenge, self._clock() + self._ttl)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)
        return challenge

    def take(self, owner: str, purpose: str) -> bytes:
        """Spend the challenge issued to ``owner``.

        Raises:
            Refused: none was issued, it was spent already, or it expired.
        """
        item = self._items.pop((owner, purpose), None)
        if item is None or item[1] <= self._clock():
            raise Refused("no current security key challenge: start again")
        return item[0]


@dataclass(frozen=True)
class NewCredential:
    """What a successful registration stores."""

    credential_id: bytes
    public_key: bytes
    sign_count: int


def registration_options(
    settings: Settings,
    *,
    user_id: bytes,
    user_name: str,
    display_name: str,
    challenge: bytes,
    existing: list[bytes],
) -> str:
    """The ``PublicKeyCredentialCreationOptions`` as JSON for ``navigator.credentials.create``."""
    options = generate_registration_options(
        rp_id=rp_id(settings),
        rp_name=f"Tasuke · {settings.organisation}",
        user_id=user_id,
        user_name=user_name,
        user_display_name=display_name,
        challenge=challenge,
        timeout=int(limits.WEBAUTHN_CEREMONY_TTL * 1000),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=c) for c in existing],
    )
    return options_to_json(options)


def _credential(text: str) -> dict[str, Any]:
    if len(text) > limits.MAX_WEBAUTHN_RESPONSE:
        raise Refused("security key answer too large")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise Refused("security key answer is not JSON") from exc
    if not isinstance(value, dict):
        raise Refused("security key answer is not an object")
    return value


def verify_registration(settings: Settings, response: str, challenge: bytes) -> NewCredential:
    """Check the browser's answer to :func:`registration_options`.

    Raises:
        Refused: malformed, for another challenge, origin or RP id, or a bad attestation.
    """
    try:
        verified = verify_registration_response(
            credential=_credential(response),
            expected_challenge=challenge,
            expected_rp_id=rp_id(settings),
            expected_origin=settings.origin,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise Refused(f"security key registration failed: {exc}"[:200]) from exc
    return NewCredential(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
    )


def authentication_options(settings: Settings, challenge: bytes, allowed: list[bytes]) -> str:
    """The ``PublicKeyCredentialRequestOptions`` as JSON for ``navigator.credentials.get``."""
    options = generate_authentication_options(
        rp_id=rp_id(settings),
        challenge=challenge,
        timeout=int(limits.WEBAUTHN_CEREMONY_TTL * 1000),
        allow_credentials=[PublicKeyCredentialDescriptor(id=c) for c in allowed],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json(options)


def credential_id_of(response: str) -> bytes:
    """The credential id the browser says it used (to find the stored public key).

    Raises:
        Refused: the answer is malformed.
    """
    raw = _credential(response).get("rawId")
    if not isinstance(raw, str):
        raise Refused("security key answer has no credential id")
    try:
        return base64url_to_bytes(raw)
    except ValueError as exc:
        raise Refused("security key answer has a malformed credential id") from exc


def verify_authentication(
    settings: Settings, response: str, challenge: bytes, public_key: bytes, sign_count: int
) -> int:
    """Check the browser's answer to :func:`authentication_options`; return the new counter.

    Raises:
        Refused: malformed, for another challenge, origin or RP id, a bad signature, or a
            signature counter that went backwards (a cloned key).
    """
    try:
        verified = verify_authentication_response(
            credential=_credential(response),
            expected_challenge=challenge,
            expected_rp_id=rp_id(settings),
            expected_origin=settings.origin,
            credential_public_key=public_key,
            credential_current_sign_count=sign_count,
        )
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise Refused(f"security key sign-in failed: {exc}"[:200]) from exc
    return verified.new_sign_count
