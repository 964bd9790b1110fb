"""The console's monitor selector as the agent sees it: listed in info, selected on channel 0."""

import json
import struct

import pytest

from tasuke import limits
from tasuke.agent import consent as c
from tasuke.agent.messages import MonitorRequest, monitor_list, parse_control
from tasuke.errors import ProtocolError
from tests.unit.agent.fakes import Agent, FakeMonitorScreen, FakeServer, Leg, joined
from tests.unit.agent.test_session import rfb_handshake

RAW, DESKTOP_SIZE = 0, -223


def _select(index: object) -> bytes:
    return json.dumps({"type": "monitor", "select": index}).encode()


def test_a_monitor_request_is_a_number_from_0_to_the_most_monitors_listed() -> None:
    assert parse_control(_select(0)) == MonitorRequest(0)
    assert parse_control(_select(2)) == MonitorRequest(2)
    # A console may choose from a list replaced meanwhile: the session answers, not ends.
    assert parse_control(_select(limits.MAX_MONITORS)) == MonitorRequest(limits.MAX_MONITORS)


@pytest.mark.parametrize(
    "raw",
    [
        _select(limits.MAX_MONITORS + 1),
        _select(-1),
        _select(True),
        _select(1.0),
        _select("1"),
        _select(None),
        b'{"type":"monitor"}',
        b'{"type":"monitor","select":1,"scope":"control"}',
    ],
)
def test_a_malformed_monitor_request_is_a_protocol_error(raw: bytes) -> None:
    with pytest.raises(ProtocolError, match="malformed monitor"):
        parse_control(raw)


def test_the_monitor_list_is_sent_whole_or_not_at_all() -> None:
    assert monitor_list([(0, 0, 800, 600), (800, 0, 1024, 768)]) == [
        [0, 0, 800, 600],
        [800, 0, 1024, 768],
    ]
    assert monitor_list([(0, 0, 800, 600)] * (limits.MAX_MONITORS + 1)) == []
    assert monitor_list([(0, 0, 800, 600), (0, 0, 0, 600)]) == []


def _raw_update_of(leg: Leg, width: int, height: int) -> bytes | None:
    """The pixels of the first Raw rectangle at (0, 0) of ``width`` x ``height``."""
    header = struct.pack(">HHHHi", 0, 0, width, height, RAW)
    at = bytes(leg.rfb).find(header)
    if at < 0 or len(leg.rfb) < at + 12 + width * height * 4:
        return None
    return bytes(leg.rfb[at + 12 : at + 12 + width * height * 4])


async def viewing_all(server: FakeServer) -> tuple[Agent, FakeMonitorScreen]:
    """A session allowed to view both monitors, with the viewer's first update received."""
    screen = FakeMonitorScreen()
    agent = await joined(server, screen=screen)
    agent.ui.answer(c.AllowView())
    await agent.leg.pump(lambda: agent.leg.rfb.startswith(b"RFB 003.008\n"))
    await rfb_handshake(agent.leg)
    await agent.leg.console_send(1, struct.pack(">BxHii", 2, 2, RAW, DESKTOP_SIZE))
    await agent.leg.console_send(1, struct.pack(">BBHHHH", 3, 0, 0, 0, 64, 48))
    await agent.leg.pump(lambda: _raw_update_of(agent.leg, 64, 48) is not None)
    return agent, screen


async def test_the_console_selecting_a_monitor_changes_what_is_captured(
    server: FakeServer,
) -> None:
    agent, screen = await viewing_all(server)
    info = next(m for m in agent.leg.control if m["type"] == "info")
    assert info["monitors"] == [[0, 0, 32, 48], [32, 0, 32, 48]]

    await agent.leg.console_send(0, _select(2))
    await agent.leg.console_send(1, struct.pack(">BBHHHH", 3, 1, 0, 0, 64, 48))
    # The viewer is told the new size, then gets the right-hand monitor's pixels only.
    resized = struct.pack(">HHHHi", 0, 0, 32, 48, DESKTOP_SIZE)
    await agent.leg.pump(lambda: resized in agent.leg.rfb)
    assert screen.selected[-1] == 2
    await agent.leg.console_send(1, struct.pack(">BBHHHH", 3, 0, 0, 0, 32, 48))
    await agent.leg.pump(lambda: _raw_update_of(agent.leg, 32, 48) is not None)
    pixels = _raw_update_of(agent.leg, 32, 48)
    assert pixels == bytes(FakeMonitorScreen.RIGHT) * (32 * 48)
    # Choosing what is shown moved nothing else: still view only, still running.
    assert agent.ui.sessions[-1].scope == "view"
    assert not agent.task.done()
    agent.ui.answer(c.EndSession())
    assert await agent.exit_code() == 0


@pytest.mark.parametrize(
    "bad",
    [
        _select(limits.MAX_MONITORS + 1),
        _select(True),
        b'{"type":"monitor","select":"2"}',
    ],
)
async def test_a_malformed_monitor_request_ends_the_session(server: FakeServer, bad: bytes) -> None:
    screen = FakeMonitorScreen()
    agent = await joined(server, screen=screen)
    await agent.leg.console_send(0, bad)
    await agent.leg.pump(lambda: agent.leg.closed)
    assert await agent.exit_code() == 1
    assert any("malformed monitor message" in note for note in agent.ui.notes)
    assert screen.selected == []
    assert agent.leg.rfb_records == 0


async def test_a_monitor_request_cannot_grant_consent(server: FakeServer) -> None:
    screen = FakeMonitorScreen()
    agent = await joined(server, screen=screen)
    await agent.leg.console_send(0, _select(1))
    await agent.leg.console_send(0, json.dumps({"type": "end", "reason": "probe"}).encode())
    assert await agent.exit_code() == 0
    # Still nothing captured or sent: the prompt was never answered.
    assert agent.ui.sessions == []
    assert screen.grabs == 0
    assert agent.leg.rfb_records == 0
