"""How a session ends on the customer's side: deadlines, who ended it, a clean goodbye.

Each test plays the server and a real E2E console (``fakes.Leg``) and checks what the
customer is told and what the console decrypts.
"""

import asyncio
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from tasuke import limits
from tasuke.agent import connection
from tasuke.agent import consent as c
from tasuke.agent.session import AgentSession
from tasuke.agent.stream import ChannelStream
from tests.unit.agent.fakes import FakeServer, joined, signed_welcome, start_agent


async def _flood_screen(stream: ChannelStream, *_args: object, **_kwargs: object) -> None:
    """A screen engine that sends as fast as it may (heavy screen traffic)."""
    chunk = b"\x00" * limits.RFB_SEND_CHUNK
    while True:
        await stream.send(chunk)
        await asyncio.sleep(0)


async def _never_reads(*_args: object, **_kwargs: object) -> None:
    """A screen engine stuck elsewhere: it takes no input from the console."""
    await asyncio.Event().wait()


async def _stream_ends(*_args: object, **_kwargs: object) -> None:
    """The RFB stream ends on its own (say, the viewer went away)."""


class _WriteLater:
    """An agent WebSocket whose sends may suspend before the frame is written.

    websockets 17 happens to write a frame before its first await; the agent must
    not depend on that (a proxy, a fragmented send or another library may not). Once
    ``delay`` is set, each binary send waits that long before writing, as a slow
    transport would, and ``waiting`` says that one is waiting.
    """

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self.delay = 0.0
        self.waiting = False

    async def send(self, message: Any) -> None:
        if isinstance(message, bytes) and self.delay:
            self.waiting = True
            try:
                await asyncio.sleep(self.delay)
            finally:
                self.waiting = False
        await self._ws.send(message)

    def __aiter__(self) -> Any:
        return self._ws.__aiter__()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)


async def test_no_answer_to_the_handshake_ends_the_session(server: FakeServer) -> None:
    agent = await start_agent(server)
    await agent.leg.recv_text()
    await agent.leg.send(signed_welcome())
    await agent.leg.send({"type": "peer_joined"})
    commit = await asyncio.wait_for(agent.leg.conn.recv(), 5.0)
    assert isinstance(commit, bytes)  # the console never answers it
    agent.clock.now += limits.HANDSHAKE_TIMEOUT - 1
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(agent.task), 0.5)
    agent.clock.now += 1
    end = await agent.leg.recv_text(within=2.0)
    assert end == {"type": "end", "reason": "handshake_timeout"}
    assert await agent.exit_code() == 1
    assert any("not set up in time" in note for note in agent.ui.notes)
    assert any("時間内に確立できなかった" in note for note in agent.ui.notes)
    assert agent.ui.prompts == []


async def test_the_screen_stream_ending_does_not_blame_the_operator(server: FakeServer) -> None:
    agent = await joined(server, serve_rfb=_stream_ends)
    agent.ui.answer(c.AllowView())
    await agent.leg.pump(lambda: agent.leg.closed)
    assert await agent.exit_code() == 0
    last = agent.ui.notes[-1]
    assert "The session ended" in last
    assert "セッションが終了しました" in last
    assert "operator" not in last


@pytest.mark.parametrize(
    ("by", "said"),
    [
        ("operator", "The operator ended the session"),
        ("server", "The server ended the session"),
    ],
)
async def test_the_server_names_who_ended_it(server: FakeServer, by: str, said: str) -> None:
    agent = await joined(server)
    await agent.leg.send({"type": "session_ended", "by": by, "reason": "x"})
    assert await agent.exit_code() == 0
    assert said in agent.ui.notes[-1]


async def test_customer_end_during_heavy_screen_traffic_is_a_clean_end(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrapped: list[_WriteLater] = []

    class Session(AgentSession):
        def __init__(self, ws: ClientConnection, *args: Any) -> None:
            wrapped.append(_WriteLater(ws))
            super().__init__(wrapped[0], *args)  # type: ignore[arg-type]

    monkeypatch.setattr(connection, "AgentSession", Session)
    agent = await start_agent(server, serve_rfb=_flood_screen)
    await agent.leg.recv_text()
    await agent.leg.send(signed_welcome())
    await agent.leg.peer_joined()
    await agent.leg.pump(lambda: ("consent", "pending") in agent.leg.control_types())
    agent.ui.answer(c.AllowControl())
    await agent.leg.pump(lambda: agent.leg.rfb_records >= 20)
    # The customer ends while a screen record is numbered but not yet written; it is
    # written well within the goodbye's grace time.
    ws = wrapped[0]
    ws.delay = limits.AGENT_END_GRACE / 3
    await agent.leg.pump(lambda: ws.waiting)
    agent.ui.answer(c.EndSession())
    # Leg.pump decrypts every record: a skipped sequence number raises E2EError here.
    await agent.leg.pump(lambda: agent.leg.closed)
    assert agent.leg.control[-1] == {
        "type": "end",
        "by": "customer",
        "reason": "the customer ended the session",
    }
    assert await agent.exit_code() == 0


async def test_a_console_flooding_input_ends_the_session_with_a_reason(
    server: FakeServer,
) -> None:
    agent = await start_agent(server, serve_rfb=_never_reads)
    await agent.leg.recv_text()
    await agent.leg.send(signed_welcome())
    await agent.leg.peer_joined()
    await agent.leg.pump(lambda: ("consent", "pending") in agent.leg.control_types())
    agent.ui.answer(c.AllowControl())
    await agent.leg.pump(lambda: ("consent", "granted") in agent.leg.control_types())
    for _ in range(limits.AGENT_RFB_INPUT_QUEUE + 1):
        await agent.leg.console_send(1, b"\x05\x00\x00\x01\x00\x01")
    assert await agent.exit_code(within=3.0) == 1
    assert any("more input than this PC can take" in note for note in agent.ui.notes)
    await agent.leg.pump(lambda: agent.leg.closed)
    assert any(t["type"] == "end" for t in agent.leg.texts)


async def test_an_end_is_read_while_the_screen_waits_on_a_slow_link(server: FakeServer) -> None:
    agent = await start_agent(server, serve_rfb=_flood_screen)
    await agent.leg.recv_text()
    await agent.leg.send(signed_welcome())
    await agent.leg.peer_joined()
    await agent.leg.pump(lambda: ("consent", "pending") in agent.leg.control_types())
    agent.ui.answer(c.AllowControl())
    await agent.leg.pump(lambda: agent.leg.rfb_records >= 1)
    # From now on nobody reads what the agent sends: its screen records back up. The
    # pause only lets the backlog build; the assertions hold however long it is.
    await asyncio.sleep(0.5)
    await agent.leg.console_send(1, b"\x05\x00\x00\x01\x00\x01")
    await agent.leg.send({"type": "session_ended", "by": "operator", "reason": "done"})
    assert await agent.exit_code(within=4.0) == 0
    assert "The operator ended the session" in agent.ui.notes[-1]
