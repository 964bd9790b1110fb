"""TOTP (RFC 6238) and recovery codes, without I/O: the caller passes the time and randomness.

A code is accepted for the current time step or ``TOTP_VALID_WINDOW`` steps either side, but
only for a step newer than the last one accepted for that operator, so a code seen over a
shoulder or in a proxy log cannot be used a second time.
"""

import base64
import hashlib
import hmac
import io
import re

import pyotp
import segno

from tasuke import limits
from tasuke.server.deps import Random

__all__ = [
    "hash_recovery_code",
    "new_recovery_codes",
    "new_totp_secret",
    "normalise_code",
    "provisioning_uri",
    "qr_svg",
    "totp_code",
    "verify_totp",
]

_DIGITS = re.compile(r"[0-9]+")


def new_totp_secret(rng: Random) -> str:
    """A fresh 160-bit TOTP secret in base32, as authenticator apps expect."""
    return base64.b32encode(rng(20)).decode("ascii")


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=limits.TOTP_DIGITS, interval=limits.TOTP_STEP)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI that the enrolment QR code carries."""
    return _totp(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(data: str) -> bytes:
    """``data`` as a QR code in SVG (no script, no style attribute: the CSP allows it as is)."""
    buffer = io.BytesIO()
    segno.make(data, error="m", micro=False).save(
        buffer, kind="svg", scale=5, border=2, dark="#000", light="#fff", svgclass=None
    )
    return buffer.getvalue()


def totp_code(secret: str, now: float) -> str:
    """The code an authenticator app shows at ``now`` (tests use it as the app)."""
    return _totp(secret).at(int(now))


def normalise_code(value: str) -> str:
    """Strip the spaces and dashes people type into codes; lower-case for recovery codes."""
    return re.sub(r"[\s-]", "", value).lower()[: limits.MAX_SECOND_FACTOR_INPUT]


def verify_totp(secret: str, code: str, now: float, last_step: int) -> int | None:
    """Return the time step ``code`` is valid for, or ``None``.

    Only steps after ``last_step`` count (replay protection); the caller stores the returned
    step as the new ``last_step``.
    """
    code = normalise_code(code)
    if len(code) != limits.TOTP_DIGITS or not _DIGITS.fullmatch(code):
        return None
    totp = _totp(secret)
    current = int(now) // limits.TOTP_STEP
    found = None
    # Compare every candidate step so the time taken does not depend on which one matched.
    for step in range(current - limits.TOTP_VALID_WINDOW, current + limits.TOTP_VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code) and step > last_step:
            found = step
    return found


def new_recovery_codes(rng: Random) -> list[str]:
    """``RECOVERY_CODES`` fresh codes, each 16 base32 characters shown as ``xxxx-xxxx-...``."""
    codes = []
    for _ in range(limits.RECOVERY_CODES):
        raw = base64.b32encode(rng(limits.RECOVERY_CODE_BYTES)).decode("ascii").lower()
        codes.append("-".join(raw[i : i + 4] for i in range(0, len(raw), 4)))
    return codes


def hash_recovery_code(code: str) -> str:
    """The stored form of a recovery code (80 random bits: SHA-256 suffices, no stretching)."""
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()
