"""The asyncio adapter around :class:`~tasuke.rfb.server.RFBServer`.

One task reads client bytes and injects input; another waits for an update request, then
captures and encodes on a worker thread and sends what changed. Input has a thread of its own:
a key press must never wait behind a frame being encoded or sent (input-to-pixel latency is
what a user feels). Each thread keeps to its own display connection (Xlib and mss are not
safe to share between threads; the X11 source and sink each open their own).
"""

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from tasuke import limits
from tasuke.desktop.base import ChangeEvents, InputSink, ScreenSource
from tasuke.rfb.capture import Capture, DamageHint, MonitorChoice
from tasuke.rfb.messages import (
    ClientMessage,
    FramebufferUpdateRequest,
    KeyEvent,
    PointerEvent,
    SetDesktopSize,
)
from tasuke.rfb.server import RFBServer, UpdateJob
from tasuke.rfb.tiles import Rect

__all__ = ["ByteStream", "DamageHint", "MonitorChoice", "serve_rfb"]

_T = TypeVar("_T")
_log = logging.getLogger(__name__)


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
    monitor: MonitorChoice | None = None,
) -> None:
    """Serve one RFB client on ``stream`` until the stream ends.

    ``monitor`` chooses which monitor is shown, and lets the caller switch it while the
    session runs; without it the source's own choice stands (all monitors for X11). With
    several monitors shown, viewers that support ExtendedDesktopSize get one screen each.

    Input is injected into ``sink`` only while ``input_allowed()`` is true (and sink is not
    None); a key pressed while allowed is still released later, so nothing stays stuck down.
    Bytes are handed to ``stream.send`` in pieces of at most limits.RFB_SEND_CHUNK.

    Raises:
        RFBError: the client broke the protocol (the caller closes the connection).
    """
    worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="rfb-screen")
    injector = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="rfb-input")
    try:
        runner = _Runner(stream, source, sink, worker, injector, input_allowed, monitor)
        await runner.call(runner.capture.apply_choice)  # the first size is the chosen monitor's
        width, height = await runner.call(source.size)
        if runner.events is not None:
            runner.events_fd = await runner.call(runner.events.fileno)
        runner.core = RFBServer(width, height, name=name)
        try:
            await runner.run()
        finally:
            # On the worker, after any update still being encoded there.
            worker.submit(runner.core.close)
    finally:
        # Not cancel_futures: the close above must still run (jobs of cancelled tasks were
        # cancelled with them).
        worker.shutdown(wait=False)
        injector.shutdown(wait=False, cancel_futures=True)
        await _threads_done(worker, injector)


async def _threads_done(*pools: concurrent.futures.ThreadPoolExecutor) -> None:
    """Wait (within limits.RFB_STOP_WAIT) until the pools' threads have finished.

    A capture, encode or key stroke still running when the session ends uses the source's
    or the sink's X connection, and the caller closes both once serve_rfb returns: nothing
    may be under way then. The wait holds also while the session is cancelled (again).
    """

    def join() -> None:
        for pool in pools:
            pool.shutdown(wait=True)

    loop = asyncio.get_running_loop()
    done = loop.run_in_executor(None, join)
    deadline = loop.time() + limits.RFB_STOP_WAIT
    cancelled = False
    while not done.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            _log.warning(
                "the screen engine is still busy %.1f s after the end", limits.RFB_STOP_WAIT
            )
            break
        try:
            await asyncio.wait({done}, timeout=remaining)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


class _Runner:
    def __init__(
        self,
        stream: ByteStream,
        source: ScreenSource,
        sink: InputSink | None,
        worker: concurrent.futures.Executor,
        injector: concurrent.futures.Executor,
        input_allowed: Callable[[], bool],
        monitor: MonitorChoice | None,
    ) -> None:
        self.stream = stream
        self.source = source
        self.sink = sink
        self.worker = worker
        self.injector = injector
        self.input_allowed = input_allowed
        self.core: RFBServer
        self.wakeup = asyncio.Event()
        self.send_lock = asyncio.Lock()
        self.input_lock = asyncio.Lock()
        self.keys_down: set[int] = set()
        self.nudge = asyncio.Event()
        """Set by input: the screen is about to change, poll sooner."""
        self.fast_until = 0.0
        self.buttons = 0
        self.capture = Capture(source, time.monotonic, monitor)
        self.still_since: float | None = None
        self.events = source if isinstance(source, ChangeEvents) else None
        self.events_fd = -1
        self.queued = False
        """Change events already read by the source, not yet handled (worker thread)."""

    async def call(self, fn: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self.worker, fn)

    async def call_input(self, fn: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self.injector, fn)

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
        # The core runs on the loop thread (only encode_update runs on the worker), so taking
        # its bytes needs no lock; send_lock keeps them in the order the core produced them.
        data = self.core.data_to_send()
        if not data:
            return
        async with self.send_lock:
            for start in range(0, len(data), limits.RFB_SEND_CHUNK):
                await self.stream.send(data[start : start + limits.RFB_SEND_CHUNK])

    async def read_loop(self) -> None:
        while True:
            data = await self.stream.receive()
            if not data:
                return
            try:
                self.core.receive_data(data)
            finally:
                # Send what the core queued (e.g. a SecurityResult failure) before closing.
                # Normally nothing: input does not wait for an update being sent.
                await self.flush()
                await self.handle_events()
            if self.core.update_requested:
                self.wakeup.set()

    async def handle_events(self) -> None:
        # Both loops parse client bytes (the update loop resumes what waited behind a fence);
        # the lock keeps the input they yield in the order the client sent it.
        async with self.input_lock:
            for event in self.core.events_received():
                await self.inject(event)

    async def inject(self, event: ClientMessage) -> None:
        full = isinstance(event, FramebufferUpdateRequest) and not event.incremental
        if full or isinstance(event, SetDesktopSize):
            self.nudge.set()  # to be answered now, even if the screen is still
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
                await self.call_input(lambda: sink.key(event.keysym, event.down))
                self.nudged()
        elif isinstance(event, PointerEvent) and self.input_allowed():
            # Framebuffer to desktop coordinates: one monitor may be shown, not the desktop.
            ox, oy = self.capture.origin
            x = ox + min(event.x, self.core.width - 1)
            y = oy + min(event.y, self.core.height - 1)
            await self.call_input(lambda: sink.pointer(x, y, event.buttons))
            # Clicks echo like keys; plain motion does not (it would poll at input speed).
            if event.buttons != self.buttons:
                self.buttons = event.buttons
                self.nudged()

    async def sleep(self, delay: float) -> None:
        """Wait ``delay`` seconds, or less if nudged (input, a request to answer at once)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.nudge.wait(), delay)

    def on_change_event(self) -> None:
        # Only a wake-up: the worker reads the events. Removed at once, or a socket that
        # stays readable until the worker reads it would call this in a busy loop.
        asyncio.get_running_loop().remove_reader(self.events_fd)
        self.nudge.set()

    def nudged(self) -> None:
        self.still_since = None
        self.fast_until = asyncio.get_running_loop().time() + limits.RFB_INPUT_POLL_WINDOW
        self.nudge.set()

    async def release_keys(self) -> None:
        sink, keys = self.sink, sorted(self.keys_down)
        self.keys_down.clear()
        if sink is None or not keys:
            return

        def release() -> None:
            for keysym in keys:
                sink.key(keysym, False)

        await asyncio.shield(self.call_input(release))

    def capture_and_encode(self, job: UpdateJob) -> bytes | None:
        # Runs on the worker thread: encoding a full screen takes milliseconds that must not
        # stall the event loop (input, pings, other legs).
        shot = self.capture.take(
            whole=job.region == Rect(0, 0, self.core.width, self.core.height),
            forced=job.full is not None,
            refresh=self.core.refresh_pending,
        )
        if shot is None:
            return None
        self.core.set_screens(self.capture.screens)
        return self.core.encode_update(job, shot.frame, shot.cursor, shot.damage, clean=shot.clean)

    def capture_encode_and_check(self, job: UpdateJob) -> bytes | None:
        data = self.capture_and_encode(job)
        # Events read while waiting for X replies no longer make the socket readable.
        self.queued = self.events is not None and self.events.events_queued()
        return data

    async def update_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            started = loop.time()
            job = self.core.begin_update()
            if job is not None:
                data = await self.call(functools.partial(self.capture_encode_and_check, job))
                self.core.finish_update(job, data)
                if data is not None:
                    # The echo of the input is on its way: back to the regular frame rate.
                    self.still_since, self.fast_until = None, 0.0
                elif self.still_since is None:
                    self.still_since = started
                await self.flush()  # the update, and fence answers that waited for it
                await self.handle_events()
            # Poll again while a request is pending, but never faster than the frame limit,
            # except just after input, whose echo is what the user is waiting for; and more
            # slowly once the screen has been still for a while.
            # On a slow link (tasuke.rfb.adapt), after the quality, the frame rate goes down.
            interval = self.core.adapt.frame_interval
            if loop.time() < self.fast_until:
                interval = limits.RFB_INPUT_POLL_INTERVAL
            elif (
                self.still_since is not None and started - self.still_since > limits.RFB_IDLE_AFTER
            ):
                interval = limits.RFB_IDLE_POLL_INTERVAL
            delay = max(0.0, interval - (loop.time() - started))
            self.nudge.clear()
            if delay > 0:
                await self.sleep(delay)
            # The source tells when the screen changes (X damage): wait for that instead of
            # polling, with a slow poll as a safety net. Not while approximations wait to be
            # refined: that happens on polls of a still screen.
            watch = self.events_fd >= 0 and not self.core.refresh_pending
            if watch and not (self.queued or self.nudge.is_set()):
                loop.add_reader(self.events_fd, self.on_change_event)
                try:
                    await self.sleep(limits.RFB_EVENT_IDLE_POLL_INTERVAL)
                finally:
                    loop.remove_reader(self.events_fd)
            if self.core.update_requested:
                self.wakeup.set()
