"""Monitors plugged in or removed mid-session: the console's selector is told (protocol 2.8)."""

import json
import re
import struct
from pathlib import Path
from typing import Any

from tasuke import limits
from tasuke.agent import consent as c
from tasuke.agent.messages import monitors_message
from tests.unit.agent.fakes import Agent, FakeMonitorScreen, FakeServer, joined
from tests.unit.agent.test_monitors import DESKTOP_SIZE, _select, viewing_all

LEFT, RIGHT = FakeMonitorScreen.MONITORS
SMALL = (16, 0, 32, 24)
"""A monitor plugged in: a 32x24 part of the desktop."""
JS_MONITORS = Path(__file__).parents[3] / "src/tasuke/server/static/js/session_monitors.js"


def test_the_message_lists_the_monitors_and_the_one_shown() -> None:
    assert monitors_message([LEFT, RIGHT, SMALL], 2) == {
        "type": "monitors",
        "monitors": [[0, 0, 32, 48], [32, 0, 32, 48], [16, 0, 32, 24]],
        "selected": 2,
    }
    assert monitors_message([LEFT], 0) == {
        "type": "monitors",
        "monitors": [[0, 0, 32, 48]],
        "selected": 0,
    }


def test_a_list_out_of_bounds_is_not_sent_and_nothing_is_selected_in_it() -> None:
    too_many = [LEFT] * (limits.MAX_MONITORS + 1)
    assert monitors_message(too_many, 3) == {"type": "monitors", "monitors": [], "selected": 0}
    too_big = [LEFT, (0, 0, limits.MAX_FRAMEBUFFER_DIM + 1, 48)]
    assert monitors_message(too_big, 1) == {"type": "monitors", "monitors": [], "selected": 0}
    assert monitors_message([], 0) == {"type": "monitors", "monitors": [], "selected": 0}


def test_a_choice_outside_the_list_is_not_reported() -> None:
    # Read between the screen worker's two writes: its next report is consistent.
    assert monitors_message([LEFT], 2) is None
    assert monitors_message([LEFT, RIGHT], -1) is None


def test_the_consoles_bounds_are_the_agents() -> None:
    source = JS_MONITORS.read_text(encoding="utf-8")
    found = dict(re.findall(r"const (MAX_MONITORS|MAX_DIM) = (\d+);", source))
    assert found == {
        "MAX_MONITORS": str(limits.MAX_MONITORS),
        "MAX_DIM": str(limits.MAX_FRAMEBUFFER_DIM),
    }


def _news(agent: Agent) -> list[dict[str, Any]]:
    return [m for m in agent.leg.control if m["type"] == "monitors"]


async def _show(agent: Agent, index: int, width: int, height: int = 48) -> None:
    """The operator chooses monitor ``index``; wait until the viewer is told its size."""
    start = len(agent.leg.rfb)
    await agent.leg.console_send(0, _select(index))
    await agent.leg.console_send(1, struct.pack(">BBHHHH", 3, 1, 0, 0, 64, 48))
    resized = struct.pack(">HHHHi", 0, 0, width, height, DESKTOP_SIZE)
    await agent.leg.pump(lambda: resized in agent.leg.rfb[start:])


async def _next_capture(agent: Agent) -> None:
    """The viewer asks for an update, so the screen engine captures and sees the layout."""
    await agent.leg.console_send(1, struct.pack(">BBHHHH", 3, 1, 0, 0, 32, 48))


async def _end(agent: Agent) -> None:
    assert not agent.task.done()
    agent.ui.answer(c.EndSession())
    assert await agent.exit_code() == 0


async def test_a_monitor_plugged_in_is_listed_and_the_one_shown_kept(server: FakeServer) -> None:
    agent, screen = await viewing_all(server)
    await _show(agent, 2, 32)
    screen.replug([LEFT, RIGHT, SMALL])
    await _next_capture(agent)
    await agent.leg.pump(lambda: bool(_news(agent)))
    # The operator's own choice took effect, so it was not echoed: only the new list came.
    assert _news(agent) == [
        {
            "type": "monitors",
            "monitors": [[0, 0, 32, 48], [32, 0, 32, 48], [16, 0, 32, 24]],
            "selected": 2,
        }
    ]
    # The new monitor can be chosen; what the console was first told is no limit.
    await _show(agent, 3, 32, 24)
    assert screen.selected[-1] == 3
    assert screen.area == SMALL
    await _end(agent)


async def test_when_the_monitor_shown_is_removed_the_console_shows_all(
    server: FakeServer,
) -> None:
    agent, screen = await viewing_all(server)
    await _show(agent, 2, 32)
    screen.replug([LEFT, SMALL])
    await _next_capture(agent)
    await agent.leg.pump(lambda: bool(_news(agent)))
    assert _news(agent)[-1] == {
        "type": "monitors",
        "monitors": [[0, 0, 32, 48], [16, 0, 32, 24]],
        "selected": 0,
    }
    assert agent.ui.sessions[-1].scope == "view"
    await _end(agent)


async def test_a_choice_the_screen_engine_refuses_is_corrected(server: FakeServer) -> None:
    agent, screen = await viewing_all(server)
    # Unplugged before the engine captured again: the console still offers monitor 2.
    screen.replug([LEFT])
    await agent.leg.console_send(0, _select(2))
    await _next_capture(agent)
    await agent.leg.pump(
        lambda: bool(_news(agent)) and _news(agent)[-1]["monitors"] == [[0, 0, 32, 48]]
    )
    assert [m["selected"] for m in _news(agent)] == [0] * len(_news(agent))
    assert screen.selected == [0]  # the first capture's "all"; 2 was never shown
    await _end(agent)


async def test_a_choice_from_a_replaced_list_is_answered_not_fatal(server: FakeServer) -> None:
    screen = FakeMonitorScreen()
    agent = await joined(server, screen=screen)
    # Monitor 3 was in a list the console had; this agent lists two.
    await agent.leg.console_send(0, _select(3))
    await agent.leg.pump(lambda: bool(_news(agent)))
    assert _news(agent) == [
        {"type": "monitors", "monitors": [[0, 0, 32, 48], [32, 0, 32, 48]], "selected": 0}
    ]
    # Still waiting for the customer: nothing captured, nothing sent, nothing chosen.
    assert screen.grabs == 0
    assert agent.leg.rfb_records == 0
    assert agent.ui.sessions == []
    agent.ui.answer(c.Deny())
    assert await agent.exit_code() == 0


async def test_a_console_may_not_send_the_agents_monitors_message(server: FakeServer) -> None:
    agent = await joined(server, screen=FakeMonitorScreen())
    fake = {"type": "monitors", "monitors": [[0, 0, 32, 48]], "selected": 1}
    await agent.leg.console_send(0, json.dumps(fake).encode())
    await agent.leg.pump(lambda: agent.leg.closed)
    assert await agent.exit_code() == 1
    assert any("unknown control message type: monitors" in note for note in agent.ui.notes)
