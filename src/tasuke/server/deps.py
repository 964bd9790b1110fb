"""The clock and the randomness that server logic depends on, injectable for tests."""

import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "Random", "system_clock", "system_random", "utc"]

Clock = Callable[[], float]
"""Returns the current time as seconds since the epoch (UTC)."""

Random = Callable[[int], bytes]
"""Returns that many cryptographically strong random bytes."""

system_clock: Clock = time.time
system_random: Random = secrets.token_bytes


def utc(timestamp: float) -> datetime:
    """Turn a clock reading into an aware UTC datetime for storage."""
    return datetime.fromtimestamp(timestamp, tz=UTC)
