"""``tasuke join`` as the customer runs it, against the real server and a scripted console.

The console here is a test client that speaks the console role of the E2E channel
(``tasuke.e2e``) over ``/ws/console`` with a ticket, as the browser does. The agent
is a real subprocess on Xvfb; its consent is answered through its real prompt: the
terminal (fed by the test) or the Tk window (clicked with xdotool).
"""

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.support.server import RunningServer, running_server
from tests.support.xtools import wait_until, xdotool
from tests.support.xvfb import xauth_free_env
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tasuke import limits
from tasuke.agent.ui import PROMPT_TITLE, SESSION_TITLE
from tasuke.agent.ui_tk import PROMPT_BUTTONS, SESSION_BUTTONS
from tasuke.e2e import ChannelData, E2ESession, HandshakeComplete, Role

pytestmark = [pytest.mark.x11, pytest.mark.timeout(120)]


@dataclass
class Support:
    """A support session created by the signed-in admin."""

    server: RunningServer
    id: str
    number: str

    def record(self) -> dict[str, Any]:
        with self.server.client() as client:
            self.server.login(client)
            response = client.get(f"/api/sessions/{self.id}")
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    with running_server(tmp_path, organisation="Example Help Desk") as running:
        yield running
    # The harness leaves the server's output pipe open; close it (ResourceWarning otherwise).
    if running.process.stdout is not None:
        running.process.stdout.close()


@pytest.fixture
def support(server: RunningServer) -> Support:
    with server.client() as client:
        csrf = server.login(client)
        response = client.post("/api/sessions", headers={"X-CSRF-Token": csrf})
        response.raise_for_status()
        body = response.json()
    return Support(server, body["id"], body["number"])


def ticket(support: Support) -> str:
    with support.server.client() as client:
        csrf = support.server.login(client)
        response = client.post(f"/api/sessions/{support.id}/ticket", headers={"X-CSRF-Token": csrf})
        response.raise_for_status()
        return str(response.json()["ticket"])


@dataclass
class Console:
    """The operator's side: server texts plus the decrypted E2E channels, in arrival order."""

    ws: ClientConnection
    e2e: E2ESession
    log: list[tuple[str, Any]] = field(default_factory=list)
    sas: str | None = None
    closed_at: float | None = None

    def texts(self, kind: str) -> list[dict[str, Any]]:
        return [m for tag, m in self.log if tag == "text" and m["type"] == kind]

    def control(self, kind: str) -> list[dict[str, Any]]:
        return [m for tag, m in self.log if tag == "ch0" and m["type"] == kind]

    def rfb(self) -> bytes:
        return b"".join(m for tag, m in self.log if tag == "ch1")

    def index(self, tag: str, predicate: Any = lambda _m: True) -> int:
        for i, (t, m) in enumerate(self.log):
            if t == tag and predicate(m):
                return i
        return -1

    async def pump(self, until: Any, within: float = 15.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not until():
            if self.closed_at is not None:
                raise AssertionError(f"console closed before the condition held: {self.log}")
            try:
                raw = await asyncio.wait_for(self.ws.recv(), max(0.0, deadline - loop.time()))
            except ConnectionClosed:
                self.closed_at = time.monotonic()
                if until():
                    return
                continue
            if isinstance(raw, str):
                self.log.append(("text", json.loads(raw)))
                continue
            self.e2e.receive_frame(raw)
            for frame in self.e2e.frames_to_send():
                await self.ws.send(frame)
            for event in self.e2e.events_received():
                if isinstance(event, HandshakeComplete):
                    self.sas = event.sas
                elif isinstance(event, ChannelData) and event.channel == 0:
                    self.log.append(("ch0", json.loads(event.data)))
                elif isinstance(event, ChannelData) and event.channel == 1:
                    self.log.append(("ch1", event.data))


async def open_console(support: Support) -> Console:
    url = f"{support.server.ws_url}/ws/console?ticket={ticket(support)}"
    ws = await connect(url, origin=support.server.url, compression=None)  # type: ignore[arg-type]
    console = Console(ws, E2ESession(Role.CONSOLE, bytes.fromhex(support.id)))
    await console.pump(lambda: console.texts("waiting"))
    return console


class Agent:
    """``tasuke join`` as a subprocess, with its output collected line by line."""

    def __init__(self, support: Support, display: str, consent: str) -> None:
        number = f"{support.number[:3]}-{support.number[3:6]} {support.number[6:]}"
        env = xauth_free_env(display)
        env["PYTHONUNBUFFERED"] = "1"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tasuke.cli",
                "join",
                number,
                "--server",
                support.server.url,
                "--consent",
                consent,
                "--display",
                display,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    async def wait_output(self, text: str, within: float = 15.0) -> None:
        deadline = time.monotonic() + within
        while text not in self.output():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"agent never printed {text!r}:\n{self.output()}")
            await asyncio.sleep(0.02)

    def type(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text)
        self.process.stdin.flush()

    async def exit_code(self, within: float = 10.0) -> int:
        deadline = time.monotonic() + within
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"agent did not exit:\n{self.output()}")
            await asyncio.sleep(0.02)
        return self.process.returncode

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)
        if self.process.stdin is not None:
            self.process.stdin.close()
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def agents() -> Iterator[list[Agent]]:
    started: list[Agent] = []
    yield started
    for agent in started:
        agent.stop()


async def until_prompted(console: Console, agent: Agent) -> None:
    """Both sides reach the prompt: handshake done, consent pending, codes shown."""
    await console.pump(lambda: console.control("consent"))
    assert console.control("consent")[0] == {"type": "consent", "state": "pending", "scope": None}
    info = console.control("info")[0]
    assert info["screen"] == [1024, 768]
    assert console.texts("peer_joined")
    assert console.sas is not None


async def test_terminal_allow_then_customer_end(
    support: Support, x_display: str, agents: list[Agent]
) -> None:
    console = await open_console(support)
    agent = Agent(support, x_display, "terminal")
    agents.append(agent)
    await until_prompted(console, agent)
    await agent.wait_output("Allow control")
    out = agent.output()
    assert f"Verification code: {console.sas}" in out
    assert "Example Help Desk" in out
    assert "Only allow people you contacted yourself" in out
    assert console.rfb() == b""
    agent.type("c\n")
    await console.pump(lambda: console.rfb().startswith(b"RFB 003.008\n"))
    granted = console.index(
        "ch0", lambda m: m == {"type": "consent", "state": "granted", "scope": "control"}
    )
    assert 0 <= granted < console.index("ch1")
    await console.pump(lambda: console.texts("consent"))
    assert console.texts("consent")[0]["decision"] == "granted"
    record = support.record()
    assert (record["consent_decision"], record["consent_scope"]) == ("granted", "control")
    await agent.wait_output("Being controlled by")
    agent.type("e\n")
    asked = time.monotonic()
    await console.pump(lambda: console.texts("session_ended"))
    assert time.monotonic() - asked < 1.0
    assert console.texts("session_ended")[0]["by"] == "customer"
    assert await agent.exit_code() == 0
    assert support.record()["ended_by"] == "customer"


async def test_terminal_deny_sends_no_screen(
    support: Support, x_display: str, agents: list[Agent]
) -> None:
    console = await open_console(support)
    agent = Agent(support, x_display, "terminal")
    agents.append(agent)
    await until_prompted(console, agent)
    await agent.wait_output("d = ")
    agent.type("d\n")
    await console.pump(lambda: console.texts("session_ended"))
    assert {"type": "consent", "state": "denied", "scope": None} in console.control("consent")
    assert console.texts("consent")[0]["decision"] == "denied"
    assert console.rfb() == b""
    assert console.index("ch1") == -1
    assert await agent.exit_code() == 0
    assert support.record()["consent_decision"] == "denied"


async def test_ctrl_c_during_the_session_ends_it(
    support: Support, x_display: str, agents: list[Agent]
) -> None:
    console = await open_console(support)
    agent = Agent(support, x_display, "terminal")
    agents.append(agent)
    await until_prompted(console, agent)
    await agent.wait_output("v = ")
    agent.type("v\n")
    await console.pump(lambda: console.rfb().startswith(b"RFB"))
    agent.process.send_signal(signal.SIGINT)
    asked = time.monotonic()
    await console.pump(lambda: console.texts("session_ended"))
    assert time.monotonic() - asked < 1.0
    assert console.texts("session_ended")[0]["by"] == "customer"
    assert await agent.exit_code() == 0


async def test_wrong_number_is_refused_in_both_languages(
    server: RunningServer, x_display: str, agents: list[Agent]
) -> None:
    support = Support(server, "0" * 32, "000000000")
    agent = Agent(support, x_display, "terminal")
    agents.append(agent)
    assert await agent.exit_code() == 1
    assert "セッション番号が正しくないか" in agent.output()
    assert "invalid or has expired" in agent.output()


def click_button(display: str, title: str, box: tuple[int, int, int, int]) -> None:
    """Click the centre of ``box`` inside the window titled ``title``."""
    window = wait_until(
        lambda: (
            xdotool(display, "search", "--name", title).split()
            if _has_window(display, title)
            else None
        ),
        timeout=15.0,
        what=f"window {title!r}",
    )[0]
    geometry = dict(
        line.split("=", 1)
        for line in xdotool(display, "getwindowgeometry", "--shell", window).split()
    )
    x = int(geometry["X"]) + box[0] + box[2] // 2
    y = int(geometry["Y"]) + box[1] + box[3] // 2
    xdotool(display, "mousemove", str(x), str(y), "click", "1")


def _has_window(display: str, title: str) -> bool:
    done = subprocess.run(
        ["xdotool", "search", "--name", title],
        env=xauth_free_env(display),
        capture_output=True,
        check=False,
    )
    return done.returncode == 0 and bool(done.stdout.strip())


async def test_tk_window_allow_and_end_with_xdotool(
    support: Support, x_display: str, agents: list[Agent]
) -> None:
    console = await open_console(support)
    agent = Agent(support, x_display, "tk")
    agents.append(agent)
    await until_prompted(console, agent)
    # Return, space and Enter must not answer the prompt, also once its buttons are armed.
    await asyncio.to_thread(wait_until, lambda: _has_window(x_display, "Allow connection"))
    pressed_until = time.monotonic() + limits.CONSENT_ARM_DELAY + 0.5
    while time.monotonic() < pressed_until:
        await asyncio.to_thread(xdotool, x_display, "key", "Return", "space", "KP_Enter")
        await asyncio.sleep(0.2)
    assert _has_window(x_display, "Allow connection")
    assert len(console.control("consent")) == 1

    def clicked_allow() -> bool:
        # The buttons are disarmed for a moment after the window appears; click until it counts.
        if _has_window(x_display, "Allow connection"):
            click_button(x_display, "Allow connection", PROMPT_BUTTONS["control"])
        return not _has_window(x_display, "Allow connection")

    await asyncio.to_thread(wait_until, clicked_allow, timeout=15.0, interval=0.3)
    await console.pump(lambda: console.rfb().startswith(b"RFB 003.008\n"))
    assert console.control("consent")[1] == {
        "type": "consent",
        "state": "granted",
        "scope": "control",
    }
    await asyncio.to_thread(click_button, x_display, "Support session", SESSION_BUTTONS["end"])
    asked = time.monotonic()
    await console.pump(lambda: console.texts("session_ended"))
    assert time.monotonic() - asked < 1.0
    assert console.texts("session_ended")[0]["by"] == "customer"
    assert await agent.exit_code() == 0


def test_titles_are_what_the_tests_search_for() -> None:
    assert "Allow connection" in PROMPT_TITLE
    assert "Support session" in SESSION_TITLE
