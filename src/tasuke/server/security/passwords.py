"""Password hashing (argon2id) and one-time passwords.

Verification always spends the time of one argon2 hash, also for unknown accounts, so that the
answer time does not tell which user names exist.
"""

import asyncio
import base64

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tasuke import limits
from tasuke.server.deps import Random

__all__ = ["check_new_password", "hash_password", "new_one_time_password", "verify_password"]

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY_HASH = _hasher.hash("tasuke dummy password: compared when the account does not exist")


def new_one_time_password(rng: Random) -> str:
    """A 16-character password from 80 random bits, easy to read aloud (a-z, 2-7)."""
    return base64.b32encode(rng(10)).decode("ascii").lower()


async def hash_password(password: str) -> str:
    """Hash ``password`` with argon2id off the event loop."""
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored if stored is not None else _DUMMY_HASH, password) and (
            stored is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """Check ``password`` against ``stored``; ``None`` (no such user) costs the same and fails."""
    if len(password) > limits.MAX_PASSWORD_LENGTH:
        return False
    return await asyncio.to_thread(_verify, stored, password)


def check_new_password(password: str, repeated: str) -> str | None:
    """Return why a chosen password is refused, or ``None`` if it is acceptable."""
    if password != repeated:
        return "The two passwords differ. / 2つのパスワードが一致しません。"
    if len(password) < limits.PASSWORD_MIN_LENGTH:
        return (
            f"Use at least {limits.PASSWORD_MIN_LENGTH} characters. / "
            f"{limits.PASSWORD_MIN_LENGTH}文字以上にしてください。"
        )
    if len(password) > limits.MAX_PASSWORD_LENGTH:
        return "That password is too long. / パスワードが長すぎます。"
    return None
