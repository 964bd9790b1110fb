"""The RFB byte stream carried on E2E channel 1, as a ``ByteStream`` for serve_rfb."""

import asyncio
from collections.abc import Awaitable, Callable

from tasuke import limits
from tasuke.errors import LimitExceeded

__all__ = ["ChannelStream"]


class ChannelStream:
    """Adapts the agent's E2E channel 1 to ``tasuke.rfb.session.ByteStream``.

    Incoming records are queued without ever making the WebSocket reader wait,
    so a session end from the server or the console is read however much screen
    input is pending. The queue is bounded (``limits.AGENT_RFB_INPUT_QUEUE``
    records, ``limits.AGENT_RFB_INPUT_BYTES`` bytes): a console that sends more
    input than the screen engine takes in ends the session with
    :class:`~tasuke.errors.LimitExceeded`; dropping bytes instead would corrupt
    the RFB stream. Outgoing bytes are cut into records of ``limits.RFB_SEND_CHUNK`` and each
    send is awaited, so a slow viewer slows the screen engine. ``may_send`` is
    asked before every record: once consent is gone, nothing more leaves.
    """

    def __init__(
        self,
        send_record: Callable[[bytes], Awaitable[None]],
        may_send: Callable[[], bool],
    ) -> None:
        self._send_record = send_record
        self._may_send = may_send
        # Unbounded as a queue; feed() enforces the limits without waiting.
        self._incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self._queued_records = 0
        self._queued_bytes = 0
        self._closed = False

    def feed(self, data: bytes) -> None:
        """Queue bytes that arrived from the console; never waits.

        Raises:
            LimitExceeded: more than the input limits are waiting for the screen engine.
        """
        if not data or self._closed:
            return
        if (
            self._queued_records >= limits.AGENT_RFB_INPUT_QUEUE
            or self._queued_bytes + len(data) > limits.AGENT_RFB_INPUT_BYTES
        ):
            raise LimitExceeded("the operator's console sent more input than this PC can take")
        self._queued_records += 1
        self._queued_bytes += len(data)
        self._incoming.put_nowait(data)

    def close(self) -> None:
        """Mark the end of the stream: ``receive`` returns b"" once the queue is drained."""
        if not self._closed:
            self._closed = True
            self._incoming.put_nowait(b"")

    async def receive(self) -> bytes:
        """Next bytes from the console, or b"" at the end of the stream."""
        if self._closed and self._incoming.empty():
            return b""
        data = await self._incoming.get()
        if data:
            self._queued_records -= 1
            self._queued_bytes -= len(data)
        return data

    async def send(self, data: bytes) -> None:
        """Send RFB bytes to the console in channel-1 records, if consent allows."""
        view = memoryview(data)
        for start in range(0, len(view), limits.RFB_SEND_CHUNK):
            if self._closed or not self._may_send():
                return
            await self._send_record(bytes(view[start : start + limits.RFB_SEND_CHUNK]))
