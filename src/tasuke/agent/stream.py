"""The RFB byte stream carried on E2E channel 1, as a ``ByteStream`` for serve_rfb."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from tasuke import limits

__all__ = ["ChannelStream"]


class ChannelStream:
    """Adapts the agent's E2E channel 1 to ``tasuke.rfb.session.ByteStream``.

    Incoming records are queued (at most ``limits.AGENT_RFB_INPUT_QUEUE``; the
    WebSocket reader waits when the queue is full, which slows the console).
    Outgoing bytes are cut into records of ``limits.RFB_SEND_CHUNK`` and each
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
        self._incoming: asyncio.Queue[bytes] = asyncio.Queue(limits.AGENT_RFB_INPUT_QUEUE)
        self._closed = False

    async def feed(self, data: bytes) -> None:
        """Queue bytes that arrived from the console (waits while the queue is full)."""
        if data and not self._closed:
            await self._incoming.put(data)

    def close(self) -> None:
        """Mark the end of the stream: ``receive`` returns b"" once the queue is drained."""
        self._closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self._incoming.put_nowait(b"")

    async def receive(self) -> bytes:
        """Next bytes from the console, or b"" at the end of the stream."""
        if self._closed and self._incoming.empty():
            return b""
        return await self._incoming.get()

    async def send(self, data: bytes) -> None:
        """Send RFB bytes to the console in channel-1 records, if consent allows."""
        view = memoryview(data)
        for start in range(0, len(view), limits.RFB_SEND_CHUNK):
            if self._closed or not self._may_send():
                return
            await self._send_record(bytes(view[start : start + limits.RFB_SEND_CHUNK]))
