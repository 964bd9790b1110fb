"""Fixes after the security review, over real WebSockets: a disabled or reset operator's live
sessions end (from the admin pages at once, from another process within the re-check
interval), and failed joins count per source network and server-wide."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.test_server_ws import closed, hello, recv_json
from tests.support.server import ADMIN_PASSWORD, InProcessServer, csrf_from, serve_in_process
from websockets.asyncio.client import ClientConnection, connect

from tasuke import limits
from tasuke.server.admin import operators
from tasuke.server.security.throttle import WindowLimit


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[InProcessServer]:
    async with serve_in_process(tmp_path) as running:
        yield running


async def _operator(server: InProcessServer, name: str = "sato") -> int:
    await operators.create_operator(
        server.state.store,
        name,
        display_name=None,
        rights="view",
        modes="number",
        is_admin=False,
        actor="test",
        address=None,
    )
    operator = await server.state.store.operator_by_username(name)
    return int(operator.id)


async def _paired(
    server: InProcessServer, operator_id: int
) -> tuple[str, ClientConnection, ClientConnection]:
    session = await server.state.store.create_session(operator_id)
    ticket = server.state.tickets.mint(session.id, operator_id)
    console = await connect(f"{server.ws_url}/ws/console?ticket={ticket}", origin=server.url)
    assert (await recv_json(console))["type"] == "waiting"
    agent = await connect(f"{server.ws_url}/ws/agent")
    await agent.send(hello(session.number))
    assert (await recv_json(agent))["type"] == "welcome"
    assert (await recv_json(agent)) == {"type": "peer_joined"}
    assert (await recv_json(console))["type"] == "peer_joined"
    return session.id, agent, console


async def _ended(ws: ClientConnection) -> dict[str, Any]:
    message = await recv_json(ws, wait=3.0)
    assert message["type"] == "session_ended"
    await closed(ws)
    return message


async def _admin_browser(server: InProcessServer) -> tuple[httpx.AsyncClient, str]:
    client = httpx.AsyncClient(base_url=server.url)
    page = await client.get("/login")
    first = {"username": "admin", "password": server.admin_password}
    await client.post("/login", data={**first, "csrf_token": csrf_from(page.text)})
    csrf = csrf_from((await client.get("/password")).text)
    chosen = {"password": ADMIN_PASSWORD, "password2": ADMIN_PASSWORD, "csrf_token": csrf}
    assert (await client.post("/password", data=chosen)).status_code == 303
    return client, csrf_from((await client.get("/")).text)


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("disable", "the operator was disabled"),
        ("reset-password", "the operator's password was reset"),
    ],
)
async def test_the_admin_pages_end_the_operators_live_sessions(
    server: InProcessServer, action: str, reason: str
) -> None:
    operator_id = await _operator(server)
    session_id, agent, console = await _paired(server, operator_id)
    browser, csrf = await _admin_browser(server)
    try:
        answer = await browser.post(f"/admin/operators/sato/{action}", data={"csrf_token": csrf})
        assert answer.status_code in (200, 303), answer.text
    finally:
        await browser.aclose()
    for leg in (agent, console):
        assert await _ended(leg) == {"type": "session_ended", "by": "server", "reason": reason}
    row = await server.state.store.get_session(session_id)
    assert row.session.end_reason == reason
    ended = [e for e in await server.state.store.audit.entries() if e.event == "session.ended"]
    assert json.loads(ended[0].details)["reason"] == reason


@pytest.mark.parametrize("change", ["disable", "reset-password", "reset-second-factor"])
async def test_a_change_from_another_process_ends_the_session_at_the_next_check(
    server: InProcessServer, change: str
) -> None:
    # `tasuke operator ...` writes only the database: the console leg's re-check notices.
    server.state.registry.operator_recheck = 0.05
    operator_id = await _operator(server)
    _, agent, console = await _paired(server, operator_id)
    store = server.state.store
    if change == "disable":
        await operators.disable_operator(store, "sato", actor="cli:root", address=None)
        reason = "the operator was disabled"
    elif change == "reset-password":
        await operators.reset_operator_password(store, "sato", actor="cli:root", address=None)
        reason = "the operator's sign-in was reset"
    else:
        await server.state.signin.reset_second_factor(operator_id)
        reason = "the operator's sign-in was reset"
    for leg in (agent, console):
        assert (await _ended(leg))["reason"] == reason


async def test_an_unchanged_operator_keeps_the_session(server: InProcessServer) -> None:
    server.state.registry.operator_recheck = 0.02
    _, agent, console = await _paired(server, await _operator(server))
    await console.send(b"still here")
    assert await agent.recv() == b"still here"  # many re-checks later, still relaying
    await agent.close()
    assert (await _ended(console))["by"] == "customer"


async def _join_from(server: InProcessServer, address: str, number: str) -> dict[str, Any]:
    ws = await connect(f"{server.ws_url}/ws/agent", local_addr=(address, 0))
    await ws.send(hello(number))
    answer = await recv_json(ws)
    if answer["type"] == "welcome":
        await ws.close()
    else:
        await closed(ws)
    return answer


async def test_failed_joins_count_per_source_network(server: InProcessServer) -> None:
    session = await server.new_session()
    for _ in range(limits.JOIN_ATTEMPTS_PER_MINUTE):
        assert (await _join_from(server, "127.0.0.2", "999999999"))["code"] == "invalid_session"
    # A neighbour in the same /24 shares the count, even with the right number.
    assert (await _join_from(server, "127.0.0.3", session.number))["code"] == "rate_limited"
    # Another network does not.
    assert (await _join_from(server, "127.0.1.3", session.number))["type"] == "welcome"


async def test_failed_joins_have_a_server_wide_cap(server: InProcessServer) -> None:
    cap = 3
    server.state.join_limit_server = WindowLimit(limit=cap, window=limits.JOIN_RATE_WINDOW)
    session = await server.new_session()
    for n in range(cap):
        answer = await _join_from(server, f"127.0.{n + 1}.5", "999999999")
        assert answer["code"] == "invalid_session"
    assert (await _join_from(server, "127.0.9.5", session.number))["code"] == "rate_limited"
    server.clock.advance(limits.JOIN_RATE_WINDOW)
    assert (await _join_from(server, "127.0.9.5", session.number))["type"] == "welcome"


def test_the_server_wide_cap_is_far_above_one_network() -> None:
    assert limits.MAX_FAILED_JOINS_SERVER_PER_MINUTE > 10 * limits.JOIN_ATTEMPTS_PER_MINUTE
