"""Failure delays, join rate limits and console tickets, driven by a fake clock."""

import os

import pytest

from tasuke import limits
from tasuke.errors import LimitExceeded
from tasuke.server.security.throttle import FailureDelay, WindowLimit
from tasuke.server.ws.tickets import TicketStore
from tests.support.server import FakeClock
from tests.unit.server.conftest import AppUnderTest


def test_failure_delay_doubles_and_is_forgotten() -> None:
    throttle = FailureDelay(free=2, base=1.0, cap=4.0, window=100.0)
    for _ in range(2):
        assert throttle.wait_time("k", 0.0) == 0
        throttle.failed("k", 0.0)
    assert throttle.wait_time("k", 0.0) == 1.0
    throttle.failed("k", 1.0)
    assert throttle.wait_time("k", 1.0) == 2.0
    throttle.failed("k", 3.0)
    throttle.failed("k", 3.0)
    assert throttle.wait_time("k", 3.0) == 4.0  # capped
    assert throttle.wait_time("k", 200.0) == 0  # outside the window
    throttle.succeeded("k")
    assert throttle.wait_time("k", 3.0) == 0


def test_throttles_hold_a_bounded_number_of_keys() -> None:
    throttle = FailureDelay(free=0, max_keys=3)
    limit = WindowLimit(limit=1, max_keys=3)
    for i in range(10):
        throttle.failed(str(i), 0.0)
        limit.failed(str(i), 0.0)
    assert throttle.wait_time("0", 0.0) == 0
    assert throttle.wait_time("9", 0.0) > 0
    assert not limit.blocked("0", 0.0)
    assert limit.blocked("9", 0.0)


def test_window_limit_blocks_after_the_limit_and_recovers() -> None:
    limit = WindowLimit()
    for i in range(limits.JOIN_ATTEMPTS_PER_MINUTE):
        assert not limit.blocked("addr", float(i))
        limit.failed("addr", float(i))
    assert limit.blocked("addr", 10.0)
    assert not limit.blocked("other", 10.0)
    assert not limit.blocked("addr", limits.JOIN_RATE_WINDOW + 10.0)


def test_ticket_is_single_use() -> None:
    tickets = TicketStore(FakeClock(), lambda n: bytes(range(n)))
    token = tickets.mint("s1", 1)
    spent = tickets.spend(token)
    assert spent is not None
    assert spent.session_id == "s1"
    assert spent.operator_id == 1
    assert tickets.spend(token) is None
    assert tickets.spend("made-up") is None


def test_ticket_expires() -> None:
    clock = FakeClock()
    tickets = TicketStore(clock, __import__("os").urandom)
    token = tickets.mint("s1", 1)
    clock.advance(limits.WS_TICKET_TTL)
    assert tickets.spend(token) is None


def test_unspent_tickets_are_bounded() -> None:
    tickets = TicketStore(FakeClock(), __import__("os").urandom, capacity=2)
    tickets.mint("a", 1)
    tickets.mint("b", 1)
    with pytest.raises(LimitExceeded):
        tickets.mint("c", 1)


def test_one_operator_cannot_take_every_ticket() -> None:
    clock = FakeClock()
    tickets = TicketStore(clock, os.urandom)
    held = [tickets.mint("s1", 7) for _ in range(limits.MAX_TICKETS_PER_OPERATOR)]
    with pytest.raises(LimitExceeded, match="for this operator"):
        tickets.mint("s1", 7)
    # Other operators still get tickets.
    assert tickets.spend(tickets.mint("s2", 8)) is not None
    assert tickets.unspent(7) == limits.MAX_TICKETS_PER_OPERATOR
    # Spending or expiry gives the operator room again.
    assert tickets.spend(held[0]) is not None
    tickets.mint("s1", 7)
    clock.advance(limits.WS_TICKET_TTL)
    assert tickets.unspent(7) == 0
    tickets.mint("s1", 7)


async def test_ticket_api_refuses_past_the_per_operator_cap(admin: AppUnderTest) -> None:
    async with admin.new_client() as client:
        csrf = await admin.signed_in(client)
        session = (await client.post("/api/sessions", headers={"X-CSRF-Token": csrf})).json()
        url = f"/api/sessions/{session['id']}/ticket"
        for _ in range(limits.MAX_TICKETS_PER_OPERATOR):
            assert (await client.post(url, headers={"X-CSRF-Token": csrf})).status_code == 200
        refused = await client.post(url, headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 429
        assert "too many unspent tickets" in refused.text
