"""Failure counting for sign-in and join attempts (sans-I/O: the caller passes the time).

Two shapes: :class:`FailureDelay` makes each failure past a few free ones cost an exponentially
growing wait (sign-in, per address and per account); :class:`WindowLimit` refuses once too many
failures fell in a sliding window (joins by session number, per address). Both forget the oldest
keys first when full, so a flood of addresses cannot grow memory without bound.
"""

from collections import OrderedDict, deque

from tasuke import limits

__all__ = ["FailureDelay", "WindowLimit"]


class FailureDelay:
    """After ``free`` failures, the next attempt must wait ``base * 2**k`` seconds (capped)."""

    def __init__(
        self,
        *,
        free: int = limits.LOGIN_FREE_FAILURES,
        base: float = limits.LOGIN_FAILURE_BASE_DELAY,
        cap: float = limits.LOGIN_FAILURE_MAX_DELAY,
        window: float = limits.LOGIN_FAILURE_WINDOW,
        max_keys: int = limits.MAX_THROTTLE_KEYS,
    ) -> None:
        self._free, self._base, self._cap, self._window = free, base, cap, window
        self._max_keys = max_keys
        # key -> (failures, time of the last failure)
        self._state: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def _entry(self, key: str, now: float) -> tuple[int, float]:
        entry = self._state.get(key)
        if entry is None or now - entry[1] > self._window:
            return (0, now)
        return entry

    def wait_time(self, key: str, now: float) -> float:
        """Seconds before ``key`` may try again (0 if it may try now)."""
        failures, last = self._entry(key, now)
        if failures == 0 or failures < self._free:
            return 0.0
        delay: float = min(self._cap, self._base * 2.0 ** (failures - self._free))
        return max(0.0, last + delay - now)

    def failed(self, key: str, now: float) -> None:
        """Count a failure for ``key``."""
        failures, _ = self._entry(key, now)
        self._state[key] = (failures + 1, now)
        self._state.move_to_end(key)
        while len(self._state) > self._max_keys:
            self._state.popitem(last=False)

    def succeeded(self, key: str) -> None:
        """Forget the failures of ``key``."""
        self._state.pop(key, None)


class WindowLimit:
    """At most ``limit`` failures per key within ``window`` seconds."""

    def __init__(
        self,
        *,
        limit: int = limits.JOIN_ATTEMPTS_PER_MINUTE,
        window: float = limits.JOIN_RATE_WINDOW,
        max_keys: int = limits.MAX_THROTTLE_KEYS,
    ) -> None:
        self._limit, self._window, self._max_keys = limit, window, max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and now - times[0] >= self._window:
            times.popleft()
        return times

    def blocked(self, key: str, now: float) -> bool:
        """Whether ``key`` used up its failures in the current window."""
        return len(self._recent(key, now)) >= self._limit

    def failed(self, key: str, now: float) -> None:
        """Count a failure for ``key``."""
        times = self._recent(key, now)
        times.append(now)
        self._failures[key] = times
        self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)
