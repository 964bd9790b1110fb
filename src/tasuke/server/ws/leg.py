"""One WebSocket leg of a session: typed receive, serialised sends, a close that always returns.

This is the boundary where Starlette's and the ASGI server's exceptions stop: callers see
``None`` for a vanished peer and :mod:`tasuke.errors` exceptions for a misbehaving one.
"""

import asyncio
import json
import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from tasuke import limits
from tasuke.errors import ProtocolError
from tasuke.server.ws.messages import FrameTooBig, check_binary

__all__ = ["Leg", "ServerStopping"]

log = logging.getLogger("tasuke.server.ws")

# Exceptions an ASGI server raises when we write to a connection that just went away.
_GONE = (WebSocketDisconnect, RuntimeError, OSError, ConnectionError)


class ServerStopping(Exception):
    """The ASGI server is shutting down and closed this leg (close code 1012)."""


class Leg:
    """The agent's or the console's connection to the relay."""

    def __init__(self, websocket: WebSocket, role: str, address: str | None) -> None:
        self.websocket = websocket
        self.role = role
        self.address = address
        self.closed = False
        self._send_lock = asyncio.Lock()

    async def receive(self) -> str | bytes | None:
        """The next frame: ``str`` (text), ``bytes`` (binary) or ``None`` (the peer is gone).

        Raises:
            FrameTooBig: a frame over its limit (the ASGI server enforces the binary limit too).
            ProtocolError: the ASGI server closed the connection for malformed frames.
            ServerStopping: the ASGI server is shutting down.
        """
        if self.closed:
            return None
        try:
            message = await self.websocket.receive()
        except _GONE:
            self.closed = True
            return None
        if message["type"] == "websocket.disconnect":
            self.closed = True
            # The ASGI server's protocol layer already closed the connection for these.
            code = message.get("code")
            if code == 1012:
                raise ServerStopping
            if code == 1009:
                raise FrameTooBig("frame too large")
            if code in (1002, 1007):
                raise ProtocolError("malformed WebSocket data")
            return None
        text: str | None = message.get("text")
        if text is not None:
            if len(text) > limits.MAX_TEXT_FRAME:
                raise FrameTooBig("text frame too large")
            return text
        data: bytes | None = message.get("bytes")
        if data is None:
            return None
        check_binary(data)
        return data

    async def _send(self, message: dict[str, Any]) -> bool:
        if self.closed:
            return False
        async with self._send_lock:
            try:
                await self.websocket.send(message)
            except _GONE:
                self.closed = True
                return False
        return True

    async def send_json(self, payload: dict[str, Any]) -> bool:
        """Send one control message; ``False`` if the leg is gone."""
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        return await self._send({"type": "websocket.send", "text": text})

    async def send_bytes(self, data: bytes) -> bool:
        """Forward one binary frame, waiting until the ASGI server accepted it (backpressure)."""
        return await self._send({"type": "websocket.send", "bytes": data})

    async def close(
        self, code: int = 1000, reason: str = "", *, within: float = limits.CLOSE_TIMEOUT
    ) -> None:
        """Close with ``code`` and ``reason``; never raises, never blocks past ``within`` seconds.

        A peer that stopped reading cannot take the close frame: after ``within`` the leg is
        given up (the ASGI server closes the connection once its buffer drains).
        """
        if self.closed:
            return
        self.closed = True
        # A close frame carries at most 123 bytes of reason.
        reason = reason.encode()[:123].decode(errors="ignore")
        try:
            await asyncio.wait_for(
                self.websocket.send({"type": "websocket.close", "code": code, "reason": reason}),
                within,
            )
        except (TimeoutError, *_GONE):
            log.debug("%s leg closed uncleanly", self.role)

    async def send_then_close(self, payload: dict[str, Any], code: int, reason: str) -> None:
        """Send a last control message, then close; both together within CLOSE_TIMEOUT."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.CLOSE_TIMEOUT
        try:
            await asyncio.wait_for(self.send_json(payload), limits.CLOSE_TIMEOUT)
        except TimeoutError:
            log.debug("%s leg did not take its last message", self.role)
        await self.close(code, reason, within=max(0.0, deadline - loop.time()))
