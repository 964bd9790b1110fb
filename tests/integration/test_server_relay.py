"""The relay under a hostile agent, a flooding peer and a console that stops reading.

Real uvicorn in the test's loop, `websockets` clients as fake agent and console.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_server_ws import (
    closed,
    join,
    open_agent,
    paired,
    recv_json,
)
from tests.support.server import InProcessServer, serve_in_process
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tasuke import limits
from tasuke.server.ws import live as live_module


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[InProcessServer]:
    async with serve_in_process(tmp_path) as running:
        yield running


async def assert_ended_by_server(
    server: InProcessServer, session_id: str, other: ClientConnection, reason: str
) -> None:
    """The other leg heard the end, the record says who ended it, nothing stays registered."""
    ended = await recv_json(other)
    assert ended == {"type": "session_ended", "by": "server", "reason": reason}
    await closed(other)
    row = await server.state.store.get_session(session_id)
    assert (row.session.ended_by, row.session.end_reason) == ("server", reason)
    assert server.state.registry.get(session_id) is None


# --- item: wrong-typed fields and bugs end the session cleanly ------------------------------

WRONG_TYPED = [
    ({"decision": ["granted"], "scope": "view"}, "consent decision must be one of"),
    ({"decision": "granted", "scope": ["view"]}, "granted consent needs scope"),
    ({"decision": "granted", "scope": "view", "reason": {"a": 1}}, "consent reason must be"),
    ({"decision": "denied", "scope": None, "reason": ["user"]}, "consent reason must be"),
]


@pytest.mark.parametrize(("fields", "reason"), WRONG_TYPED, ids=range(len(WRONG_TYPED)))
async def test_wrong_typed_consent_closes_the_agent_and_ends_the_session(
    server: InProcessServer, fields: dict[str, Any], reason: str
) -> None:
    session_id, agent, console = await paired(server)
    await agent.send(json.dumps({"type": "consent", **fields}))
    code, got = await closed(agent)
    assert code == 1008
    assert got is not None
    assert got.startswith(f"agent: {reason}")
    await assert_ended_by_server(server, session_id, console, got)


async def test_a_bug_in_the_server_ends_the_session_with_1011(
    server: InProcessServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: object, *args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(live_module.LiveSession, "consent", broken)
    session_id, agent, console = await paired(server)
    await agent.send(json.dumps({"type": "consent", "decision": "granted", "scope": "view"}))
    assert await closed(agent) == (1011, "agent: internal error")
    await assert_ended_by_server(server, session_id, console, "agent: internal error")
    # The process carries on: a new session pairs and relays.
    _, agent2, console2 = await paired(server)
    await agent2.send(b"after the bug")
    async with asyncio.timeout(5):
        assert await console2.recv() == b"after the bug"
    await agent2.close()
    await console2.close()


# --- item: consent is recorded once, in order, only after peer_joined ----------------------


def consent(decision: str, scope: str | None = None, reason: str = "user") -> str:
    return json.dumps({"type": "consent", "decision": decision, "scope": scope, "reason": reason})


async def test_a_consent_flood_closes_the_agent_with_at_most_one_record(
    server: InProcessServer,
) -> None:
    session_id, agent, console = await paired(server)
    for _ in range(200):
        try:
            await agent.send(consent("granted", "control"))
        except ConnectionClosed:
            break
    code, reason = await closed(agent)
    assert (code, reason) == (1008, "agent: consent granted after granted")
    assert await recv_json(console) == {
        "type": "consent",
        "decision": "granted",
        "scope": "control",
    }
    await assert_ended_by_server(server, session_id, console, reason)
    events = await server.state.store.consent_events(session_id)
    assert [(e.decision, e.scope) for e in events] == [("granted", "control")]


async def test_a_grant_after_a_denial_is_a_violation(server: InProcessServer) -> None:
    session_id, agent, console = await paired(server)
    await agent.send(consent("denied", reason="timeout"))
    await agent.send(consent("granted", "view"))
    assert await closed(agent) == (1008, "agent: consent granted after denied")
    assert (await recv_json(console))["decision"] == "denied"
    await assert_ended_by_server(server, session_id, console, "agent: consent granted after denied")
    events = await server.state.store.consent_events(session_id)
    assert [e.decision for e in events] == ["denied"]


async def test_consent_before_the_operator_joined_is_a_violation(server: InProcessServer) -> None:
    session = await server.new_session()
    agent, welcome = await join(server, session.number)
    assert welcome["type"] == "welcome"
    assert await recv_json(agent) == {"type": "waiting"}
    await agent.send(consent("granted", "control"))
    assert await closed(agent) == (1008, "agent: consent before the operator joined")
    assert await server.state.store.consent_events(session.id) == []
    row = await server.state.store.get_session(session.id)
    assert row.session.ended_by == "server"


async def test_control_messages_past_the_session_limit_end_the_session(
    server: InProcessServer,
) -> None:
    session_id, agent, console = await paired(server)
    for _ in range(limits.MAX_SESSION_CONTROL_MESSAGES + 1):
        try:
            await console.send(json.dumps({"type": "verified"}))
        except ConnectionClosed:
            break
    assert await closed(console) == (1008, "console: too many control messages")
    await assert_ended_by_server(server, session_id, agent, "console: too many control messages")
    row = await server.state.store.get_session(session_id)
    assert row.session.verified_at is not None


async def test_binary_before_the_welcome_reason(server: InProcessServer) -> None:
    ws = await open_agent(server)
    await ws.send(b"no hello")
    assert await closed(ws) == (1008, "binary frame before welcome")


# --- item: a console that stops reading cannot hold up the end ------------------------------


async def flood(agent: ClientConnection) -> None:
    frame = b"\x00" * (limits.MAX_BINARY_FRAME - 64)
    try:
        while True:
            await agent.send(frame)
    except ConnectionClosed:
        return


async def saturate(
    server: InProcessServer, session_id: str, agent: ClientConnection
) -> asyncio.Task[None]:
    """Flood from the agent until the server stops reading it; return the flooding task.

    Meanwhile the server never holds more than one frame from the agent in its queue.
    """
    task = asyncio.create_task(flood(agent))
    live = server.state.registry.get(session_id)
    assert live is not None
    last, steady_since = -1, asyncio.get_running_loop().time()
    async with asyncio.timeout(30):
        while True:
            assert live.queued("agent") <= 1
            now = asyncio.get_running_loop().time()
            if live.relayed_frames != last:
                last, steady_since = live.relayed_frames, now
            elif live.queued("agent") == 1 and now - steady_since > 0.5:
                break  # the slot is full and the agent's reader has stopped reading
            await asyncio.sleep(0.02)
    # Memory stays bounded: no more frames are read while the console is stuck.
    await asyncio.sleep(0.3)
    assert live.relayed_frames == last
    assert live.queued("agent") == 1
    return task


async def stuck_console(server: InProcessServer, session_id: str) -> ClientConnection:
    # max_queue=1: the client library itself stops reading once one message waits for us.
    ticket = await server.ticket(session_id)
    return await connect(
        f"{server.ws_url}/ws/console?ticket={ticket}", origin=server.url, max_queue=1
    )


async def stuck_pair(server: InProcessServer) -> tuple[str, ClientConnection, ClientConnection]:
    session = await server.new_session()
    console = await stuck_console(server, session.id)
    assert (await recv_json(console))["type"] == "waiting"
    agent, welcome = await join(server, session.number)
    assert welcome["type"] == "welcome"
    assert (await recv_json(agent))["type"] == "peer_joined"
    assert (await recv_json(console))["type"] == "peer_joined"
    return session.id, agent, console


async def test_operator_end_is_handled_at_once_while_the_console_is_stuck(
    server: InProcessServer,
) -> None:
    session_id, agent, console = await stuck_pair(server)
    live_of = [server.state.registry.get(session_id)]
    task = await saturate(server, session_id, agent)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await console.send(json.dumps({"type": "end", "reason": "frozen view"}))
    task.cancel()
    ended = await recv_json(agent, 1.0)
    assert ended == {"type": "session_ended", "by": "operator", "reason": "frozen view"}
    await closed(agent, 1.0)
    assert loop.time() - started < 1.5
    row = await server.state.store.get_session(session_id)
    assert (row.session.ended_by, row.session.end_reason) == ("operator", "frozen view")
    assert server.state.registry.get(session_id) is None
    live_session = live_of[0]
    await asyncio.sleep(0)  # let the cancelled forwarder unwind
    assert not live_session.relaying  # nothing is left waiting on the stuck console
    # The console leg is given up within CLOSE_TIMEOUT; once it reads again it sees the end.
    await closed(console, 20)


async def test_a_console_that_stopped_reading_ends_the_session_after_the_stall_limit(
    server: InProcessServer,
) -> None:
    server.state.registry.stall_timeout = 1.0  # RELAY_STALL_TIMEOUT, shortened for the test
    session_id, agent, console = await stuck_pair(server)
    task = asyncio.create_task(flood(agent))
    loop = asyncio.get_running_loop()
    live = server.state.registry.get(session_id)
    assert live is not None
    started = loop.time()
    try:
        async with asyncio.timeout(30):
            while server.state.registry.get(session_id) is not None:
                assert live.queued("agent") <= 1
                await asyncio.sleep(0.02)
        # The agent's end (and close) sit behind its unread flood: the stall limit is what
        # ends the session, recorded as the server's doing, and the agent is told at once.
        task.cancel()
        reason = "the operator's console stopped reading"
        await assert_ended_by_server(server, session_id, agent, reason)
    finally:
        task.cancel()
    assert loop.time() - started < 30
    await closed(console, 20)


async def test_console_disconnect_is_handled_while_the_agent_direction_is_full(
    server: InProcessServer,
) -> None:
    session_id, agent, console = await stuck_pair(server)
    task = await saturate(server, session_id, agent)
    console.transport.abort()
    task.cancel()
    ended = await recv_json(agent, 2.0)
    assert ended["type"] == "session_ended"
    assert ended["by"] == "operator"
    await closed(agent, 1.0)
    row = await server.state.store.get_session(session_id)
    assert row.session.ended_by == "operator"
