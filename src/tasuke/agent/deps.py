"""The seams of the agent: options from the command line, injectable dependencies."""

import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from tasuke.agent.ui import ConsentUI
from tasuke.desktop.base import InputSink, ScreenSource

__all__ = ["E2ELike", "JoinDeps", "JoinOptions", "ServeRFB"]


class E2ELike(Protocol):
    """The part of ``tasuke.e2e.E2ESession`` the agent uses (a seam for tests)."""

    def initiate(self) -> None: ...
    def receive_frame(self, frame: bytes) -> None: ...
    def frames_to_send(self) -> list[bytes]: ...
    def events_received(self) -> list[Any]: ...
    def send(self, channel: int, payload: bytes) -> None: ...
    def destroy(self) -> None: ...

    @property
    def established(self) -> bool: ...


ServeRFB = Callable[..., Awaitable[None]]


def _real_e2e(session_id: bytes) -> E2ELike:
    from tasuke.e2e import E2ESession, Role

    session: E2ELike = E2ESession(Role.AGENT, session_id)
    return session


def _real_backend(display: str | None) -> tuple[ScreenSource, InputSink]:
    from tasuke.desktop import open_backend

    return open_backend(display)


async def _real_serve_rfb(*args: Any, **kwargs: Any) -> None:
    from tasuke.rfb.session import serve_rfb

    await serve_rfb(*args, **kwargs)


@dataclass(frozen=True, slots=True)
class JoinOptions:
    """What the customer asked for on the command line."""

    number: str
    """Already normalised to 9 digits."""
    server: str
    ca_cert: str | None = None
    display: str | None = None


@dataclass
class JoinDeps:
    """The seams of ``join``: real by default, fakes in tests."""

    ui: ConsentUI
    open_backend: Callable[[str | None], tuple[ScreenSource, InputSink]] = _real_backend
    e2e_factory: Callable[[bytes], E2ELike] = _real_e2e
    serve_rfb: ServeRFB = _real_serve_rfb
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    err: TextIO = field(default_factory=lambda: sys.stderr)
    handle_signals: bool = True
