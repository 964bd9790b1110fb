"""The data layer: numbers, single use, expiry, the consent record, the end record."""

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tasuke import limits
from tasuke.errors import ConfigError
from tasuke.server.db.engine import create_engine, make_sessionmaker, migrate
from tasuke.server.db.store import Store, session_status
from tests.support.server import FakeClock


@pytest.fixture
async def store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Store]:
    engine = create_engine(tmp_path / "t.sqlite3")
    await migrate(engine)
    await migrate(engine)  # idempotent: every start runs it
    yield Store(make_sessionmaker(engine), clock, __import__("os").urandom)
    await engine.dispose()


async def _operator(store: Store) -> int:
    await store.add_operator("sato", display_name="Sato Hanako")
    operator = await store.operator_by_username("sato")
    assert operator is not None
    return operator.id


async def test_operator_names_are_checked(store: Store) -> None:
    await _operator(store)
    for bad in ("Sato", "a b", "", "x" * 65):
        with pytest.raises(ConfigError):
            await store.add_operator(bad)
    with pytest.raises(ConfigError):
        await store.add_operator("sato")
    with pytest.raises(ConfigError):
        await store.reset_password("nobody")


async def test_numbers_are_nine_digits_single_use_and_expire(
    store: Store, clock: FakeClock
) -> None:
    operator_id = await _operator(store)
    first = await store.create_session(operator_id)
    assert re.fullmatch(r"[1-9][0-9]{8}", first.number)
    assert re.fullmatch(r"[0-9a-f]{32}", first.id)
    joined = await store.claim_number(first.number, "192.0.2.7", {"hostname": "pc"})
    assert joined is not None
    assert joined.session.id == first.id
    assert joined.session.customer_address == "192.0.2.7"
    assert session_status(joined.session, store.now()) == "active"
    assert await store.claim_number(first.number, "192.0.2.8", {}) is None  # used
    second = await store.create_session(operator_id)
    clock.advance(limits.SESSION_NUMBER_TTL)
    assert await store.claim_number(second.number, None, {}) is None  # expired
    row = await store.get_session(second.id)
    assert row is not None
    assert session_status(row.session, store.now()) == "expired"


async def test_live_numbers_never_collide(tmp_path: Path, clock: FakeClock) -> None:
    engine = create_engine(tmp_path / "c.sqlite3")
    await migrate(engine)
    # A "random" source that repeats: the second session must get another number.
    values = iter(
        [b"\x00" * 8, b"\x01" * 16, b"\x00" * 8, b"\x00\x00\x00\x00\x00\x00\x00\x07", b"\x02" * 16]
    )
    store = Store(
        make_sessionmaker(engine), clock, lambda n: next(values) if n in (8, 16) else b"\x05" * n
    )
    await store.add_operator("op")
    operator = await store.operator_by_username("op")
    assert operator is not None
    a = await store.create_session(operator.id)
    b = await store.create_session(operator.id)
    assert a.number != b.number
    await engine.dispose()


async def test_consent_record_and_end_record(store: Store) -> None:
    operator_id = await _operator(store)
    session = await store.create_session(operator_id)
    await store.record_consent(session.id, "granted", "view", "user", "192.0.2.1")
    await store.record_consent(session.id, "denied", None, "window_closed", "192.0.2.1")
    events = await store.consent_events(session.id)
    assert [(e.decision, e.scope, e.reason) for e in events] == [
        ("granted", "view", "user"),
        ("denied", None, "window_closed"),
    ]
    assert await store.record_end(session.id, "customer", "done")
    assert not await store.record_end(session.id, "operator", "later")  # first end wins
    row = await store.get_session(session.id)
    assert row is not None
    assert (row.session.ended_by, row.session.end_reason) == ("customer", "done")
    assert row.session.consent_decision == "denied"


async def test_sessions_interrupted_by_a_restart_are_ended(store: Store) -> None:
    operator_id = await _operator(store)
    session = await store.create_session(operator_id)
    await store.claim_number(session.number, None, {})
    assert await store.end_interrupted() == 1
    row = await store.get_session(session.id)
    assert row is not None
    assert row.session.ended_by == "server"


async def test_reset_password_signs_out_everywhere(store: Store) -> None:
    operator_id = await _operator(store)
    token, _ = await store.create_login(operator_id, None)
    assert await store.lookup_login(token) is not None
    await store.reset_password("sato")
    assert await store.lookup_login(token) is None
