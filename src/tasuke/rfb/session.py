"""The asyncio adapter around :class:`~tasuke.rfb.server.RFBServer`.

One task reads client bytes and injects input; another waits for an update request, then
captures and encodes on a worker thread and sends what changed. Capture, encoding and input
all run on one dedicated thread, because display connections (Xlib, mss) are not safe to share
between threads and a backend may use one connection for both.
"""

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Protocol, TypeVar

from tasuke import limits
from tasuke.desktop.base import InputSink, ScreenSource
from tasuke.rfb.messages import ClientMessage, KeyEvent, PointerEvent
from tasuke.rfb.server import RFBServer

__all__ = ["ByteStream", "serve_rfb"]

_T = TypeVar("_T")


class ByteStream(Protocol):
    """A reliable, ordered byte stream to one RFB client (TCP, or E2E channel 1)."""

    async def receive(self) -> bytes:
        """Return the next bytes from the client; b"" at end of stream."""
        ...

    async def send(self, data: bytes) -> None:
        """Send ``data`` to the client, waiting while the peer is slow (backpressure)."""
        ...


def _allow_always() -> bool:
    return True


async def serve_rfb(
    stream: ByteStream,
    source: ScreenSource,
    sink: InputSink | None,
    *,
    name: str,
    input_allowed: Callable[[], bool] = _allow_always,
) -> None:
    """Serve one RFB client on ``stream`` until the stream ends.

    Input is injected into ``sink`` only while ``input_allowed()`` is true (and sink is not
    None); a key pressed while allowed is still released later, so nothing stays stuck down.
    Bytes are handed to ``stream.send`` in pieces of at most limits.RFB_SEND_CHUNK.

    Raises:
        RFBError: the client broke the protocol (the caller closes the connection).
    """
    worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="rfb-io")
    try:
        runner = _Runner(stream, source, sink, worker, input_allowed)
        width, height = await runner.call(source.size)
        runner.core = RFBServer(width, height, name=name)
        await runner.run()
    finally:
        worker.shutdown(wait=False, cancel_futures=True)


class _Runner:
    def __init__(
        self,
        stream: ByteStream,
        source: ScreenSource,
        sink: InputSink | None,
        worker: concurrent.futures.Executor,
        input_allowed: Callable[[], bool],
    ) -> None:
        self.stream = stream
        self.source = source
        self.sink = sink
        self.worker = worker
        self.input_allowed = input_allowed
        self.core: RFBServer
        self.wakeup = asyncio.Event()
        self.send_lock = asyncio.Lock()
        self.core_lock = asyncio.Lock()
        """Held while anything touches the core, which may be busy on the worker thread."""
        self.keys_down: set[int] = set()

    async def call(self, fn: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self.worker, fn)

    async def run(self) -> None:
        await self.flush()
        reader = asyncio.create_task(self.read_loop(), name="rfb-read")
        updater = asyncio.create_task(self.update_loop(), name="rfb-update")
        try:
            done, _ = await asyncio.wait({reader, updater}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, updater):
                task.cancel()
            await asyncio.gather(reader, updater, return_exceptions=True)
            await self.release_keys()
        for task in done:
            task.result()  # re-raises RFBError or a stream error

    async def flush(self) -> None:
        # send_lock keeps updates in the order the core produced them.
        async with self.send_lock:
            async with self.core_lock:
                data = self.core.data_to_send()
            for start in range(0, len(data), limits.RFB_SEND_CHUNK):
                await self.stream.send(data[start : start + limits.RFB_SEND_CHUNK])

    async def read_loop(self) -> None:
        while True:
            data = await self.stream.receive()
            if not data:
                return
            try:
                async with self.core_lock:
                    self.core.receive_data(data)
            finally:
                # Send what the core queued (e.g. a SecurityResult failure) before closing.
                await self.flush()
                async with self.core_lock:
                    events = self.core.events_received()
                for event in events:
                    await self.inject(event)
            if self.core.update_requested:
                self.wakeup.set()

    async def inject(self, event: ClientMessage) -> None:
        sink = self.sink
        if sink is None:
            return
        if isinstance(event, KeyEvent):
            held = event.keysym in self.keys_down
            if self.input_allowed() or (held and not event.down):
                if event.down:
                    self.keys_down.add(event.keysym)
                else:
                    self.keys_down.discard(event.keysym)
                await self.call(lambda: sink.key(event.keysym, event.down))
        elif isinstance(event, PointerEvent) and self.input_allowed():
            x = min(event.x, self.core.width - 1)
            y = min(event.y, self.core.height - 1)
            await self.call(lambda: sink.pointer(x, y, event.buttons))

    async def release_keys(self) -> None:
        sink, keys = self.sink, sorted(self.keys_down)
        self.keys_down.clear()
        if sink is None or not keys:
            return

        def release() -> None:
            for keysym in keys:
                sink.key(keysym, False)

        await asyncio.shield(self.call(release))

    def capture_and_encode(self) -> bool:
        # Runs on the worker thread while the loop holds core_lock: encoding a full screen
        # takes tens of milliseconds, which must not stall the event loop (pings, other legs).
        frame, cursor = self.source.grab(), self.source.cursor()
        return self.core.update(frame, cursor)

    async def update_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            started = loop.time()
            async with self.core_lock:
                sent = await self.call(self.capture_and_encode)
            if sent:
                await self.flush()
            # Poll again while a request is pending, but never faster than the frame limit.
            await asyncio.sleep(max(0.0, limits.RFB_POLL_INTERVAL - (loop.time() - started)))
            if self.core.update_requested:
                self.wakeup.set()
