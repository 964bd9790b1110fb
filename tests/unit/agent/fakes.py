"""In-memory fakes for the agent's seams: server, console, desktop and UI.

The fake server speaks the control plane of docs/protocol.md 1.1 from the test
body; the console half uses the real ``tasuke.e2e`` session in the console role,
so the agent's E2E traffic is checked end to end without a real server.
"""

import asyncio
import base64
import io
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from tasuke.agent.connection import join
from tasuke.agent.consent import LocalEvent
from tasuke.agent.deps import JoinDeps, JoinOptions, ServeRFB
from tasuke.agent.ui import Emit, PromptInfo, SessionInfo
from tasuke.desktop.base import Cursor, Frame
from tasuke.e2e import ChannelData, E2ESession, HandshakeComplete, Role
from tasuke.errors import ConfigError

SESSION_ID = "00112233445566778899aabbccddeeff"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_welcome(
    *,
    key: Ed25519PrivateKey | None = None,
    signer: Ed25519PrivateKey | None = None,
    **grant: Any,
) -> dict[str, Any]:
    key = key or Ed25519PrivateKey.generate()
    body: dict[str, Any] = {
        "session_id": SESSION_ID,
        "operator": "佐藤 花子",
        "organisation": "Example Help Desk",
        "permissions": ["view", "control"],
        "expires": time.time() + 600,
        "server": "http://127.0.0.1",
    }
    body.update(grant)
    raw = json.dumps(body).encode()
    return {
        "type": "welcome",
        "session_id": SESSION_ID,
        "grant": b64(raw),
        "signature": b64((signer or key).sign(raw)),
        "server_key": b64(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)),
    }


async def wait_until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait for ``condition`` with a deadline (polling the event loop, not sleeping blind)."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.01)


class FakeServer:
    """Accepts agent legs; the test plays server and console on each."""

    def __init__(self) -> None:
        self.legs: asyncio.Queue[ServerConnection] = asyncio.Queue()
        self.url = ""

    async def _handler(self, conn: ServerConnection) -> None:
        await self.legs.put(conn)
        await conn.wait_closed()

    @asynccontextmanager
    async def running(self) -> AsyncIterator["FakeServer"]:
        async with serve(self._handler, "127.0.0.1", 0, compression=None) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"http://127.0.0.1:{port}"
            yield self


class Leg:
    """One agent connection, seen from the server (texts) and the console (E2E)."""

    def __init__(self, conn: ServerConnection) -> None:
        self.conn = conn
        self.texts: list[dict[str, Any]] = []
        self.control: list[dict[str, Any]] = []
        self.rfb = bytearray()
        self.rfb_records = 0
        self.sas: str | None = None
        self.closed = False
        self.console: E2ESession | None = None

    async def recv_text(self, within: float = 5.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.conn.recv(), within)
        assert isinstance(raw, str)
        message: dict[str, Any] = json.loads(raw)
        return message

    async def send(self, message: dict[str, Any]) -> None:
        await self.conn.send(json.dumps(message))

    async def peer_joined(self) -> None:
        self.console = E2ESession(Role.CONSOLE, bytes.fromhex(SESSION_ID))
        await self.send({"type": "peer_joined"})

    async def console_send(self, channel: int, payload: bytes) -> None:
        assert self.console is not None
        self.console.send(channel, payload)
        for frame in self.console.frames_to_send():
            await self.conn.send(frame)

    async def pump(self, until: Callable[[], bool], within: float = 5.0) -> None:
        """Play server and console until ``until()`` holds or the agent hangs up."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not until():
            if self.closed:
                raise AssertionError("the agent closed the connection first")
            try:
                raw = await asyncio.wait_for(self.conn.recv(), max(0.0, deadline - loop.time()))
            except ConnectionClosed:
                self.closed = True
                if until():
                    return
                continue
            if isinstance(raw, str):
                self.texts.append(json.loads(raw))
                continue
            assert self.console is not None, "binary frame before peer_joined"
            self.console.receive_frame(raw)
            for frame in self.console.frames_to_send():
                await self.conn.send(frame)
            for event in self.console.events_received():
                if isinstance(event, HandshakeComplete):
                    self.sas = event.sas
                elif isinstance(event, ChannelData) and event.channel == 0:
                    self.control.append(json.loads(event.data))
                elif isinstance(event, ChannelData) and event.channel == 1:
                    self.rfb += event.data
                    self.rfb_records += 1

    def control_types(self) -> list[tuple[str, Any]]:
        return [(m["type"], m.get("state")) for m in self.control]


class FakeUI:
    """Records what the agent shows; the test answers through ``answer``."""

    def __init__(self) -> None:
        self.emit: Emit | None = None
        self.prompts: list[PromptInfo] = []
        self.sessions: list[SessionInfo] = []
        self.notes: list[str] = []
        self.closed = False

    def start(self, emit: Emit) -> None:
        self.emit = emit

    def ask_consent(self, info: PromptInfo) -> None:
        self.prompts.append(info)

    def show_session(self, info: SessionInfo) -> None:
        self.sessions.append(info)

    def notify(self, text: str) -> None:
        self.notes.append(text)

    def close(self) -> None:
        self.closed = True

    def answer(self, event: LocalEvent) -> None:
        assert self.emit is not None
        self.emit(event)


class FakeScreen:
    """A 64x48 screen of one colour; counts grabs so tests see when capture starts."""

    def __init__(self) -> None:
        self.grabs = 0
        self.frame: Frame = np.full((48, 64, 4), 0x40, dtype=np.uint8)

    def size(self) -> tuple[int, int]:
        return (64, 48)

    def grab(self) -> Frame:
        self.grabs += 1
        return self.frame

    def cursor(self) -> Cursor | None:
        return None

    def close(self) -> None:
        pass


class FakeMonitorScreen(FakeScreen):
    """Two 32x48 monitors side by side, each one colour (BGRX); one or both are captured."""

    MONITORS = ((0, 0, 32, 48), (32, 0, 32, 48))
    LEFT = (0x30, 0x20, 0x10, 0)
    RIGHT = (0xB0, 0xA0, 0x90, 0)

    def __init__(self) -> None:
        super().__init__()
        self.frame = np.zeros((48, 64, 4), dtype=np.uint8)
        self.frame[:, :32] = self.LEFT
        self.frame[:, 32:] = self.RIGHT
        self.area = (0, 0, 64, 48)
        self.listed: list[tuple[int, int, int, int]] = list(self.MONITORS)
        self.selected: list[int] = []

    def size(self) -> tuple[int, int]:
        return self.area[2], self.area[3]

    def grab(self) -> Frame:
        self.grabs += 1
        x, y, w, h = self.area
        return self.frame[y : y + h, x : x + w].copy()

    def monitors(self) -> list[tuple[int, int, int, int]]:
        return list(self.listed)

    def captured_area(self) -> tuple[int, int, int, int]:
        return self.area

    def select_monitor(self, index: int) -> None:
        if not 0 <= index <= len(self.listed):
            raise ConfigError(f"no monitor {index}")
        self.selected.append(index)
        self.area = (0, 0, 64, 48) if index == 0 else self.listed[index - 1]

    def replug(self, monitors: list[tuple[int, int, int, int]]) -> None:
        """Monitors plugged in or removed: the one shown stays shown, else all are (as X11)."""
        self.listed = list(monitors)
        if self.area not in self.listed:
            self.area = (0, 0, 64, 48)


class FakeInput:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def key(self, keysym: int, down: bool) -> None:
        self.events.append(("key", keysym, down))

    def pointer(self, x: int, y: int, buttons: int) -> None:
        self.events.append(("pointer", x, y, buttons))

    def close(self) -> None:
        pass


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Agent:
    task: "asyncio.Task[int]"
    leg: Leg
    ui: FakeUI
    screen: FakeScreen
    sink: FakeInput
    err: io.StringIO
    clock: FakeClock

    async def exit_code(self, within: float = 5.0) -> int:
        return await asyncio.wait_for(self.task, within)


async def start_agent(
    server: FakeServer,
    number: str = "123456789",
    serve_rfb: ServeRFB | None = None,
    screen: FakeScreen | None = None,
) -> Agent:
    """``tasuke join`` against the fake server, with fake desktop, UI and clock."""
    ui, sink, err, clock = FakeUI(), FakeInput(), io.StringIO(), FakeClock()
    screen = screen or FakeScreen()
    deps = JoinDeps(
        ui=ui,
        open_backend=lambda _display: (screen, sink),
        clock=clock,
        err=err,
        handle_signals=False,
    )
    if serve_rfb is not None:
        deps.serve_rfb = serve_rfb
    task = asyncio.create_task(join(JoinOptions(number=number, server=server.url), deps))
    conn = await asyncio.wait_for(server.legs.get(), 5.0)
    return Agent(task, Leg(conn), ui, screen, sink, err, clock)


async def joined(
    server: FakeServer,
    *,
    serve_rfb: ServeRFB | None = None,
    screen: FakeScreen | None = None,
    **grant: object,
) -> Agent:
    """An agent that said hello, was welcomed, and finished the E2E handshake."""
    agent = await start_agent(server, serve_rfb=serve_rfb, screen=screen)
    hello = await agent.leg.recv_text()
    assert hello["type"] == "hello"
    await agent.leg.send(signed_welcome(**grant))
    await agent.leg.send({"type": "waiting"})
    await agent.leg.peer_joined()
    await agent.leg.pump(lambda: ("consent", "pending") in agent.leg.control_types())
    await wait_until(lambda: bool(agent.ui.prompts))
    return agent
