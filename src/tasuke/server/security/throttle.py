"""Failure counting for sign-in and join attempts (sans-I/O: the caller passes the time).

Two shapes: :class:`FailureDelay` makes each failure past a few free ones cost an exponentially
growing wait (sign-in, per address and per account); :class:`WindowLimit` refuses once too many
failures fell in a sliding window (joins by session number, per address). Both forget the oldest
keys first when full, so a flood of addresses cannot grow memory without bound.

:class:`LoginThrottle` combines failure delays for sign-in: one per source network (/24, /64)
and one per account name. The account delay applies whatever address a guess comes from, so
spreading guesses over many addresses does not help; known accounts are counted apart from
made-up names, so a flood of invented user names cannot push a real account's count out.

An attempt is taken from the throttle *before* the password or code is checked (an await:
argon2 runs in a thread, the database is read): :meth:`LoginThrottle.attempt` counts it as in
flight, and in-flight attempts count against the free allowance as if they had failed already.
So many guesses sent at once cannot all pass the check before the first failure is counted;
an attempt that turns out right is given back.
"""

import ipaddress
from collections import OrderedDict, deque
from collections.abc import Callable

from tasuke import limits

__all__ = ["Attempt", "FailureDelay", "LoginThrottle", "WindowLimit", "network_key"]


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
        # key -> attempts taken (begin) whose outcome is not known yet
        self._pending: dict[str, int] = {}

    def _entry(self, key: str, now: float) -> tuple[int, float]:
        entry = self._state.get(key)
        if entry is None or now - entry[1] > self._window:
            return (0, now)
        return entry

    def wait_time(self, key: str, now: float) -> float:
        """Seconds before ``key`` may try again (0 if it may try now).

        Attempts in flight count as failures made now: their outcome is not known yet.
        """
        failures, last = self._entry(key, now)
        pending = self._pending.get(key, 0)
        count = failures + pending
        if count == 0 or count < self._free:
            return 0.0
        if pending:
            last = now
        delay: float = min(self._cap, self._base * 2.0 ** (count - self._free))
        return max(0.0, last + delay - now)

    def begin(self, key: str, now: float) -> float:
        """Take an attempt for ``key`` if it may try now (returns 0); else return the wait.

        A taken attempt must end with :meth:`failed` or :meth:`release`.
        """
        wait = self.wait_time(key, now)
        if wait == 0:
            self.take(key)
        return wait

    def take(self, key: str) -> None:
        """Count one attempt in flight for ``key`` (the caller checked the wait)."""
        self._pending[key] = self._pending.get(key, 0) + 1

    def release(self, key: str) -> None:
        """An attempt in flight ended without a failure."""
        left = self._pending.get(key, 0) - 1
        if left > 0:
            self._pending[key] = left
        else:
            self._pending.pop(key, None)

    def failed(self, key: str, now: float) -> None:
        """Count a failure for ``key`` (ending one attempt in flight, if any)."""
        self.release(key)
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

    def attempt(self, username: str, known: bool, address: str | None, now: float) -> "Attempt":
        """Take one sign-in attempt before anything is checked (see :class:`Attempt`)."""
        return Attempt(self, username, known, address, now)

    def begin(self, username: str, known: bool, address: str | None, now: float) -> float:
        """Take an attempt against both the network and the account; 0, or the wait.

        Nothing is taken when either must wait.
        """
        wait = self.wait_time(username, known, address, now)
        if wait == 0:
            self.networks.take(network_key(address))
            self._account(known).take(f"account:{username}")
        return wait

    def release(self, username: str, known: bool, address: str | None) -> None:
        """An attempt taken with :meth:`begin` ended without a failure."""
        self.networks.release(network_key(address))
        self._account(known).release(f"account:{username}")

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


class Attempt:
    """One sign-in attempt, taken before the password or code is checked.

    ``wait`` is 0 when the attempt was taken (go on and check), else the seconds to wait (the
    answer is "try again later"; nothing was taken). A taken attempt ends with
    :meth:`failed`, or is given back by :meth:`done` (also on leaving a ``with`` block, so an
    exception cannot leave it in flight for good).
    """

    def __init__(
        self, throttle: LoginThrottle, username: str, known: bool, address: str | None, now: float
    ) -> None:
        self._throttle, self._username, self._known = throttle, username, known
        self._address, self._now = address, now
        self.wait = throttle.begin(username, known, address, now)
        self._open = self.wait == 0

    def failed(self) -> None:
        """The password or code was wrong: count the failure."""
        if self._open:
            self._open = False
            self._throttle.failed(self._username, self._known, self._address, self._now)

    def done(self) -> None:
        """The attempt ended without a failure: give it back."""
        if self._open:
            self._open = False
            self._throttle.release(self._username, self._known, self._address)

    def __enter__(self) -> "Attempt":
        return self

    def __exit__(self, *exc: object) -> None:
        self.done()
