"""Rendezvous and relay over real WebSockets: uvicorn in the test's loop, a fake clock,
`websockets` clients playing a fake agent and a fake console."""

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from tests.support.server import InProcessServer, serve_in_process
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tasuke import limits
from tasuke.server.db.engine import create_engine, make_sessionmaker
from tasuke.server.db.store import Store
from tasuke.server.security.signing import public_key_bytes

AGENT_INFO = {"os": "Debian GNU/Linux 12", "hostname": "pc-01", "screen": [1024, 768]}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[InProcessServer]:
    async with serve_in_process(tmp_path) as running:
        yield running


async def recv_json(ws: ClientConnection, wait: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(wait):
        message = await ws.recv()
    assert isinstance(message, str), message
    value: dict[str, Any] = json.loads(message)
    return value


async def closed(ws: ClientConnection, wait: float = 2.0) -> tuple[int | None, str | None]:
    """Wait until the server closed ``ws``; return the close code and reason."""
    async with asyncio.timeout(wait):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed:
            pass
    return ws.close_code, ws.close_reason


def hello(number: str, **agent: Any) -> str:
    return json.dumps(
        {
            "type": "hello",
            "role": "agent",
            "version": 1,
            "join": number,
            "agent": {**AGENT_INFO, **agent},
        }
    )


async def open_agent(server: InProcessServer) -> ClientConnection:
    return await connect(f"{server.ws_url}/ws/agent", max_size=None)


async def join(server: InProcessServer, number: str) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await open_agent(server)
    await ws.send(hello(number))
    return ws, await recv_json(ws)


async def open_console(
    server: InProcessServer, session_id: str, *, origin: str | None = "same"
) -> ClientConnection:
    ticket = await server.ticket(session_id)
    kwargs: dict[str, Any] = {"max_size": None}
    if origin is not None:
        kwargs["origin"] = server.url if origin == "same" else origin
    return await connect(f"{server.ws_url}/ws/console?ticket={ticket}", **kwargs)


async def paired(server: InProcessServer) -> tuple[str, ClientConnection, ClientConnection]:
    """A session with the console waiting and the agent joined; opening messages consumed."""
    session = await server.new_session()
    console = await open_console(server, session.id)
    assert (await recv_json(console))["type"] == "waiting"
    agent, welcome = await join(server, session.number)
    assert welcome["type"] == "welcome"
    assert (await recv_json(agent)) == {"type": "peer_joined"}
    assert (await recv_json(console))["type"] == "peer_joined"
    return session.id, agent, console


async def test_pairing_welcome_grant_and_peer_joined(server: InProcessServer) -> None:
    session = await server.new_session()
    console = await open_console(server, session.id)
    assert await recv_json(console) == {
        "type": "waiting",
        "session_id": session.id,
        "number": session.number,
    }
    agent, welcome = await join(
        server, f"{session.number[:3]} {session.number[3:6]}-{session.number[6:]}"
    )
    assert welcome["type"] == "welcome"
    assert welcome["session_id"] == session.id
    key = base64.urlsafe_b64decode(welcome["server_key"])
    assert key == public_key_bytes(server.state.signing_key)
    grant_bytes = base64.urlsafe_b64decode(welcome["grant"])
    Ed25519PublicKey.from_public_bytes(key).verify(
        base64.urlsafe_b64decode(welcome["signature"]), grant_bytes
    )
    grant = json.loads(grant_bytes)
    assert grant["session_id"] == session.id
    assert grant["operator"] == "Administrator"
    assert grant["organisation"] == "Tasuke"
    assert grant["permissions"] == ["view", "control", "files", "sysinfo"]  # the admin's rights
    assert grant["expires"] > server.clock()
    assert grant["server"] == server.url
    assert await recv_json(agent) == {"type": "peer_joined"}
    joined = await recv_json(console)
    assert joined["type"] == "peer_joined"
    assert joined["agent"] == AGENT_INFO
    assert joined["address"] == "127.0.0.1"
    row = await server.state.store.get_session(session.id)
    assert row.session.joined_at is not None
    assert row.session.agent_info == AGENT_INFO
    assert row.session.customer_address == "127.0.0.1"
    await agent.close()
    await console.close()


async def test_agent_first_waits_for_the_console(server: InProcessServer) -> None:
    session = await server.new_session()
    agent, welcome = await join(server, session.number)
    assert welcome["type"] == "welcome"
    assert await recv_json(agent) == {"type": "waiting"}
    console = await open_console(server, session.id)
    assert (await recv_json(console))["type"] == "peer_joined"
    assert await recv_json(agent) == {"type": "peer_joined"}
    await agent.close()
    await console.close()


async def test_relay_forwards_binary_frames_verbatim_both_ways(server: InProcessServer) -> None:
    _, agent, console = await paired(server)
    frames = [b"", b"\x00", os.urandom(1000), os.urandom(limits.MAX_BINARY_FRAME)]
    for frame in frames:
        await agent.send(frame)
    for frame in frames:
        async with asyncio.timeout(5):
            assert await console.recv() == frame
    for frame in reversed(frames):
        await console.send(frame)
    for frame in reversed(frames):
        async with asyncio.timeout(5):
            assert await agent.recv() == frame
    await agent.close()
    await console.close()


@pytest.mark.parametrize("ender", ["agent", "console"])
async def test_end_from_either_side_reaches_the_other_and_is_recorded(
    server: InProcessServer, ender: str
) -> None:
    session_id, agent, console = await paired(server)
    this, other = (agent, console) if ender == "agent" else (console, agent)
    by = "customer" if ender == "agent" else "operator"
    started = asyncio.get_running_loop().time()
    await this.send(json.dumps({"type": "end", "reason": "all done"}))
    assert await recv_json(other) == {"type": "session_ended", "by": by, "reason": "all done"}
    await closed(other, 1.0)
    await closed(this, 1.0)
    assert asyncio.get_running_loop().time() - started < 1.0
    row = await server.state.store.get_session(session_id)
    assert (row.session.ended_by, row.session.end_reason) == (by, "all done")


async def test_agent_vanishing_ends_the_session_for_the_console(server: InProcessServer) -> None:
    session_id, agent, console = await paired(server)
    await agent.close()
    ended = await recv_json(console)
    assert ended["type"] == "session_ended"
    assert ended["by"] == "customer"
    await closed(console, 1.0)
    row = await server.state.store.get_session(session_id)
    assert row.session.ended_by == "customer"


async def test_consent_and_verified_are_recorded(server: InProcessServer) -> None:
    session_id, agent, console = await paired(server)
    await agent.send(
        json.dumps({"type": "consent", "decision": "granted", "scope": "control", "reason": "user"})
    )
    assert await recv_json(console) == {
        "type": "consent",
        "decision": "granted",
        "scope": "control",
    }
    await console.send(json.dumps({"type": "verified"}))
    await agent.send(
        json.dumps(
            {"type": "consent", "decision": "denied", "scope": None, "reason": "window_closed"}
        )
    )
    assert (await recv_json(console))["decision"] == "denied"
    events = await server.state.store.consent_events(session_id)
    assert [(e.decision, e.scope, e.reason, e.address) for e in events] == [
        ("granted", "control", "user", "127.0.0.1"),
        ("denied", None, "window_closed", "127.0.0.1"),
    ]
    # `verified` has no answer; the console's next message is handled after it, so once the
    # agent hears the end, the verification is on record.
    await console.send(json.dumps({"type": "end", "reason": "done"}))
    assert (await recv_json(agent))["type"] == "session_ended"
    row = await server.state.store.get_session(session_id)
    assert row.session.verified_at is not None
    assert row.session.consent_decision == "denied"
    await agent.close()
    await console.close()


async def test_wrong_expired_and_used_numbers_get_the_same_answer(server: InProcessServer) -> None:
    answers = []
    # wrong
    ws, answer = await join(server, "000000000")
    answers.append((answer, await closed(ws)))
    # used
    session = await server.new_session()
    first, welcome = await join(server, session.number)
    assert welcome["type"] == "welcome"
    ws, answer = await join(server, session.number)
    answers.append((answer, await closed(ws)))
    # expired
    stale = await server.new_session()
    server.clock.advance(limits.SESSION_NUMBER_TTL + 1)
    ws, answer = await join(server, stale.number)
    answers.append((answer, await closed(ws)))
    # malformed number
    ws, answer = await join(server, "12345")
    answers.append((answer, await closed(ws)))
    assert answers[0][0]["type"] == "error"
    assert answers[0][0]["code"] == "invalid_session"
    assert answers[0][1] == (1008, "invalid_session")
    assert all(a == answers[0] for a in answers)
    await first.close()


async def test_failed_joins_are_rate_limited_per_source(server: InProcessServer) -> None:
    session = await server.new_session()
    for _ in range(limits.JOIN_ATTEMPTS_PER_MINUTE):
        ws, answer = await join(server, "999999999")
        assert answer["code"] == "invalid_session"
        await closed(ws)
    ws, answer = await join(server, session.number)  # even the right number now
    assert answer["code"] == "rate_limited"
    await closed(ws)
    server.clock.advance(limits.JOIN_RATE_WINDOW)
    ws, answer = await join(server, session.number)
    assert answer["type"] == "welcome"
    await ws.close()


@pytest.mark.parametrize(
    ("origin", "reason"),
    [(None, "origin not allowed"), ("http://evil.example", "origin not allowed")],
)
async def test_console_upgrade_checks_origin(
    server: InProcessServer, origin: str | None, reason: str
) -> None:
    session = await server.new_session()
    with pytest.raises(InvalidStatus) as refused:
        await open_console(server, session.id, origin=origin)
    assert refused.value.response.status_code == 403
    assert reason in refused.value.response.body.decode()


async def test_console_ticket_is_single_use_and_short_lived(server: InProcessServer) -> None:
    session = await server.new_session()
    ticket = await server.ticket(session.id)
    url = f"{server.ws_url}/ws/console?ticket={ticket}"
    first = await connect(url, origin=server.url)
    assert (await recv_json(first))["type"] == "waiting"
    await first.close()
    with pytest.raises(InvalidStatus) as reused:
        await connect(url, origin=server.url)
    assert reused.value.response.status_code == 403
    late = await server.ticket(session.id)
    server.clock.advance(limits.WS_TICKET_TTL)
    with pytest.raises(InvalidStatus):
        await connect(f"{server.ws_url}/ws/console?ticket={late}", origin=server.url)
    with pytest.raises(InvalidStatus):
        await connect(f"{server.ws_url}/ws/console", origin=server.url)


async def test_a_second_console_is_refused(server: InProcessServer) -> None:
    session = await server.new_session()
    first = await open_console(server, session.id)
    await recv_json(first)
    second = await open_console(server, session.id)
    assert await closed(second) == (1008, "session already has a console")
    await first.close()


async def test_console_reload_before_the_agent_keeps_the_session(server: InProcessServer) -> None:
    session = await server.new_session()
    first = await open_console(server, session.id)
    await recv_json(first)
    await first.close()
    again = await open_console(server, session.id)
    assert (await recv_json(again))["type"] == "waiting"
    agent, welcome = await join(server, session.number)
    assert welcome["type"] == "welcome"
    assert (await recv_json(again))["type"] == "peer_joined"
    await agent.close()
    await again.close()


# --- bad input: that leg closes with a reason, everyone else carries on -----------------------

BAD_AGENT_OPENINGS = [
    ("x" * (limits.MAX_TEXT_FRAME + 1), 1009),
    ("{not json", 1008),
    ('["hello"]', 1008),
    ('{"type": "hello", "role": "agent", "version": 99, "join": "1"}', 1008),
    (b"binary before hello", 1008),
    (b"x" * (limits.MAX_BINARY_FRAME + 1), 1009),
]


@pytest.mark.parametrize(("frame", "code"), BAD_AGENT_OPENINGS, ids=range(len(BAD_AGENT_OPENINGS)))
async def test_bad_agent_opening_closes_only_that_leg(
    server: InProcessServer, frame: str | bytes, code: int
) -> None:
    session_id, agent, console = await paired(server)
    bad = await open_agent(server)
    await bad.send(frame)
    got_code, reason = await closed(bad)
    assert got_code == code
    assert reason
    # The paired session still relays, and the database still has it.
    await agent.send(b"still here")
    async with asyncio.timeout(5):
        assert await console.recv() == b"still here"
    assert await server.state.store.get_session(session_id) is not None
    await agent.close()
    await console.close()


BAD_IN_SESSION = [
    ("agent", '{"type": "nonsense"}', 1008, "unknown message type"),
    ("agent", "not json", 1008, "invalid JSON"),
    (
        "agent",
        json.dumps({"type": "end", "reason": "x" * limits.MAX_TEXT_FRAME}),
        1009,
        "text frame too large",
    ),
    ("agent", b"x" * (limits.MAX_BINARY_FRAME + 1), 1009, ""),
    (
        "console",
        '{"type": "consent", "decision": "granted", "scope": "control"}',
        1008,
        "unknown message type",
    ),
    ("console", "[]", 1008, "message is not a JSON object"),
    ("console", b"x" * (limits.MAX_BINARY_FRAME + 1), 1009, ""),
]


@pytest.mark.parametrize(
    ("leg", "frame", "code", "reason"), BAD_IN_SESSION, ids=range(len(BAD_IN_SESSION))
)
async def test_bad_input_in_a_session_closes_that_leg_and_tells_the_other(
    server: InProcessServer, leg: str, frame: str | bytes, code: int, reason: str
) -> None:
    _, agent0, console0 = await paired(server)  # a bystander session
    session_id, agent, console = await paired(server)
    culprit, other = (agent, console) if leg == "agent" else (console, agent)
    await culprit.send(frame)
    got_code, got_reason = await closed(culprit)
    assert got_code == code
    if reason:
        # docs/protocol.md 1.3: in a session the reason names the offending leg first.
        assert got_reason == f"{leg}: {reason}"
    ended = await recv_json(other)
    assert ended["type"] == "session_ended"
    assert ended["by"] == "server"
    if reason:
        assert ended["reason"] == f"{leg}: {reason}"
    await closed(other)
    row = await server.state.store.get_session(session_id)
    assert row.session.ended_by == "server"
    await console0.send(b"bystander")
    async with asyncio.timeout(5):
        assert await agent0.recv() == b"bystander"
    await agent0.close()
    await console0.close()


@pytest.mark.parametrize("leg", ["agent", "console"])
async def test_binary_before_pairing_closes_the_sender(server: InProcessServer, leg: str) -> None:
    session = await server.new_session()
    if leg == "agent":
        ws, welcome = await join(server, session.number)
        assert welcome["type"] == "welcome"
    else:
        ws = await open_console(server, session.id)
    assert (await recv_json(ws))["type"] == "waiting"
    await ws.send(b"too early")
    code, reason = await closed(ws)
    assert code == 1008
    assert reason == f"{leg}: binary frame before both legs joined"


async def test_server_shutdown_ends_live_sessions_as_server(server: InProcessServer) -> None:
    session_id, agent, console = await paired(server)
    await server.stop()
    for ws in (agent, console):
        code, _ = await closed(ws, 5.0)
        assert code is not None
    # The app's engine is disposed at shutdown: read the record with a fresh one.
    engine = create_engine(server.state.settings.database_path)
    try:
        store = Store(make_sessionmaker(engine), server.clock, os.urandom)
        row = await store.get_session(session_id)
    finally:
        await engine.dispose()
    assert row is not None
    assert row.session.ended_by == "server"
