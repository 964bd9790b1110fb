"""Failure counting for sign-in and join attempts (sans-I/O: the caller passes the time).

Two shapes: :class:`FailureDelay` makes each failure past a few free ones cost an exponentially
growing wait (sign-in, per address and per account); :class:`WindowLimit` refuses once too many
failures fell in a sliding window (joins by session number, per address). Both forget the oldest
keys first when full, so a flood of addresses cannot grow memory without bound.

:class:`LoginThrottle` combines failure delays for sign-in: one per source network (/24, /64)
and one per account name. The account delay applies whatever address a guess comes from, so
spreading guesses over many addresses does not help; known accounts are counted apart from
made-up names, so a flood of invented user names cannot push a real account's count out.
"""

import ipaddress
from collections import OrderedDict, deque
from collections.abc import Callable

from tasuke import limits

__all__ = ["FailureDelay", "LoginThrottle", "WindowLimit", "network_key"]


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


def network_key(address: str | None) -> str:
    """The source network an address counts against: its IPv4 /24 or IPv6 /64.

    An IPv4-mapped IPv6 address counts as the IPv4 address it carries. Anything that is not
    an address (a test client, a Unix socket) counts as itself.
    """
    if not address:
        return "net:unknown"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"net:{address[:100]}"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = limits.LOGIN_NETWORK_PREFIX_V4 if ip.version == 4 else limits.LOGIN_NETWORK_PREFIX_V6
    return f"net:{ipaddress.ip_network(f'{ip}/{prefix}', strict=False)}"


class LoginThrottle:
    """Sign-in failure delays per source network and per account, with one answer for both.

    ``known`` says whether the account exists: real accounts are counted in their own table,
    which holds at most one entry per operator and so is never flooded out by invented names.
    Unknown names still get the same delays (in a bounded table), so the delay itself does not
    tell which names exist.
    """

    def __init__(self, make: Callable[[], FailureDelay] = FailureDelay) -> None:
        self.networks = make()
        self.accounts = make()
        self.unknown = make()

    def _account(self, known: bool) -> FailureDelay:
        return self.accounts if known else self.unknown

    def wait_time(self, username: str, known: bool, address: str | None, now: float) -> float:
        """Seconds before this account may be tried from this address (0: try now)."""
        return max(
            self.networks.wait_time(network_key(address), now),
            self._account(known).wait_time(f"account:{username}", now),
        )

    def failed(self, username: str, known: bool, address: str | None, now: float) -> None:
        """Count a failed password or second factor against the network and the account."""
        self.networks.failed(network_key(address), now)
        self._account(known).failed(f"account:{username}", now)

    def succeeded(self, username: str) -> None:
        """Forget the account's failures.

        The network's count stays: otherwise an attacker could clear it by signing in to an
        account of their own between guesses.
        """
        self.accounts.succeeded(f"account:{username}")
