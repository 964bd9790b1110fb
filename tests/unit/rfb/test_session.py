"""The asyncio runner over an in-memory stream, screen and input sink."""

import asyncio
import contextlib
import threading
import tracemalloc

import numpy as np
import pytest

from tasuke import limits
from tasuke.errors import RFBError
from tasuke.rfb import constants as c
from tasuke.rfb.session import serve_rfb
from tests.unit.rfb.decoder import Decoder
from tests.unit.rfb.fakes import (
    FakeScreen,
    MemoryStream,
    RecordingSink,
    client_init,
    continuous,
    fence,
    key,
    pointer,
    request,
    rgb,
    sample_picture,
    set_encodings,
)

W, H = 256, 192


async def wait_until(condition, deadline: float = 5.0) -> None:
    # The condition changes on serve_rfb's worker thread, which has no event to set: poll it.
    async with asyncio.timeout(deadline):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


class Client:
    """Drives serve_rfb from the client side."""

    def __init__(self, screen: FakeScreen, sink: RecordingSink | None, allowed=lambda: True):
        self.stream = MemoryStream()
        self.decoder = Decoder()
        self.task = asyncio.create_task(
            serve_rfb(self.stream, screen, sink, name="desk", input_allowed=allowed)
        )

    async def handshake(self) -> None:
        await self.stream.wait_for(12)
        self.stream.incoming.put_nowait(client_init())
        data = await self.stream.wait_for(2 + 4 + 24 + 4)
        assert self.decoder.handshake(b"RFB 003.008\n" + data) == b""

    def send(self, data: bytes) -> None:
        self.stream.incoming.put_nowait(data)

    async def full_update(self) -> None:
        self.send(request(0, 0, W, H, incremental=False))
        raw_size = 4 + 3 * 12 + W * H * 4  # 3 rows of tiles, each merged into one Raw rectangle
        self.decoder.feed(await self.stream.wait_for(raw_size))

    async def close(self) -> None:
        self.send(b"")
        await asyncio.wait_for(self.task, 5)


async def test_client_gets_the_screen_and_idle_sends_nothing() -> None:
    screen = FakeScreen(sample_picture())
    client = Client(screen, RecordingSink())
    await client.handshake()
    await client.full_update()
    assert np.array_equal(client.decoder.screen, rgb(screen.frame))
    client.send(request(0, 0, W, H, incremental=True))
    grabs = screen.grabs
    await wait_until(lambda: screen.grabs >= grabs + 5)  # polled several times...
    assert client.stream.sent == []  # ...and sent nothing
    screen.frame = screen.frame.copy()
    screen.frame[0:10, 0:10] = (9, 9, 9, 255)
    data = await client.stream.wait_for(4 + 12 + 10 * 10 * 4)
    client.decoder.feed(data)
    assert np.array_equal(client.decoder.screen, rgb(screen.frame))
    await client.close()


async def test_input_reaches_the_sink_in_order() -> None:
    sink = RecordingSink()
    client = Client(FakeScreen(sample_picture()), sink)
    await client.handshake()
    client.send(key(0xFF2A, True) + pointer(5, 6, 1) + pointer(5000, 6000, 0) + key(0xFF2A, False))
    await wait_until(lambda: len(sink.events) == 4)
    assert sink.events == [
        ("key", 0xFF2A, True),
        ("pointer", 5, 6, 1),
        ("pointer", W - 1, H - 1, 0),  # clamped to the screen
        ("key", 0xFF2A, False),
    ]
    await client.close()


async def test_view_only_drops_input_but_releases_held_keys() -> None:
    sink = RecordingSink()
    allowed = [True]
    client = Client(FakeScreen(sample_picture()), sink, lambda: allowed[0])
    await client.handshake()
    client.send(key(ord("a"), True))
    await wait_until(lambda: len(sink.events) == 1)
    allowed[0] = False
    client.send(
        key(ord("b"), True) + pointer(1, 1, 1) + key(ord("a"), False) + key(ord("b"), False)
    )
    # the request is a marker: once its update arrives, every earlier message was handled
    await client.full_update()
    assert sink.events == [("key", ord("a"), True), ("key", ord("a"), False)]
    await client.close()


async def test_keys_still_down_at_the_end_are_released() -> None:
    sink = RecordingSink()
    client = Client(FakeScreen(sample_picture()), sink)
    await client.handshake()
    client.send(key(0xFFE1, True))
    await wait_until(lambda: len(sink.events) == 1)
    await client.close()
    assert sink.events == [("key", 0xFFE1, True), ("key", 0xFFE1, False)]


async def test_no_sink_means_no_input() -> None:
    client = Client(FakeScreen(sample_picture()), None)
    await client.handshake()
    client.send(key(ord("a"), True))
    await client.full_update()
    await client.close()


async def test_garbage_ends_the_session_with_rfb_error() -> None:
    client = Client(FakeScreen(sample_picture()), RecordingSink())
    await client.handshake()
    client.send(b"\x63garbage")
    with pytest.raises(RFBError, match="unknown client message type 99"):
        await asyncio.wait_for(client.task, 5)


async def test_large_updates_are_sent_in_bounded_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "RFB_SEND_CHUNK", 10_000)
    client = Client(FakeScreen(sample_picture()), None)
    await client.handshake()
    client.send(request(0, 0, W, H, incremental=False))
    await wait_until(lambda: sum(map(len, client.stream.sent)) >= 4 + 3 * 12 + W * H * 4)
    assert max(map(len, client.stream.sent)) <= 10_000
    await client.close()


class BlockingScreen(FakeScreen):
    """A screen whose capture hangs until the test lets it go, like a long encode."""

    def __init__(self, frame: np.ndarray) -> None:
        super().__init__(frame)
        self.release = threading.Event()
        self.blocked = threading.Event()

    def grab(self) -> np.ndarray:
        if self.grabs >= 1:
            self.blocked.set()
            self.release.wait(10)
        return super().grab()


async def test_input_is_not_queued_behind_a_frame_being_captured() -> None:
    screen = BlockingScreen(sample_picture())
    sink = RecordingSink()
    client = Client(screen, sink)
    await client.handshake()
    await client.full_update()
    client.send(request(0, 0, W, H, incremental=True))
    await wait_until(screen.blocked.is_set)
    client.send(key(ord("q"), True) + key(ord("q"), False))
    try:
        await wait_until(lambda: len(sink.events) == 2, deadline=2.0)
    finally:
        screen.release.set()
    assert sink.events == [("key", ord("q"), True), ("key", ord("q"), False)]
    await client.close()


class SlowScreen(BlockingScreen):
    """A BlockingScreen that notes whether a capture is under way."""

    def __init__(self, frame: np.ndarray) -> None:
        super().__init__(frame)
        self.capturing = False

    def grab(self) -> np.ndarray:
        self.capturing = True
        try:
            return super().grab()
        finally:
            self.capturing = False


async def test_an_ended_session_returns_only_after_the_capture_under_way() -> None:
    # The agent closes the screen (its X connections) as soon as serve_rfb has returned:
    # a capture still running on the worker then would use closed connections.
    screen = SlowScreen(sample_picture())
    client = Client(screen, RecordingSink())
    await client.handshake()
    await client.full_update()
    client.send(request(0, 0, W, H, incremental=True))
    await wait_until(screen.blocked.is_set)
    client.task.cancel()  # what the agent does when either side ends the session
    loop = asyncio.get_running_loop()
    loop.call_later(0.1, client.task.cancel)  # a second cancel does not cut the wait short
    loop.call_later(0.3, screen.release.set)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(client.task, 5)
    assert not screen.capturing


class BlockingSink(RecordingSink):
    """A sink whose pointer injection hangs until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.blocked = threading.Event()
        self.injecting = False

    def pointer(self, x: int, y: int, buttons: int) -> None:
        self.injecting = True
        try:
            self.blocked.set()
            self.release.wait(10)
            super().pointer(x, y, buttons)
        finally:
            self.injecting = False


async def test_an_ended_session_returns_only_after_the_input_being_injected() -> None:
    # The agent closes the input sink (its X connection) once serve_rfb has returned.
    sink = BlockingSink()
    client = Client(FakeScreen(sample_picture()), sink)
    await client.handshake()
    client.send(pointer(10, 10, 0))
    await wait_until(sink.blocked.is_set)
    client.task.cancel()
    asyncio.get_running_loop().call_later(0.3, sink.release.set)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(client.task, 5)
    assert not sink.injecting


class DamagedScreen(FakeScreen):
    """A screen with the XDamage-like hint."""

    def __init__(self, frame: np.ndarray) -> None:
        super().__init__(frame)
        self.dirty = True
        self.asked = 0

    def damaged(self) -> bool:
        self.asked += 1
        dirty, self.dirty = self.dirty, False
        return dirty


async def test_damage_hint_skips_captures_of_an_idle_screen() -> None:
    screen = DamagedScreen(sample_picture())
    client = Client(screen, None)
    await client.handshake()
    await client.full_update()
    client.send(request(0, 0, W, H, incremental=True))
    grabs = screen.grabs
    asked = screen.asked
    await wait_until(lambda: screen.asked >= asked + 5)
    assert screen.grabs == grabs  # polled, but nothing captured
    screen.frame = screen.frame.copy()
    screen.frame[5:7, 5:9] = (1, 2, 3, 255)
    screen.dirty = True
    data = await client.stream.wait_for(4 + 12 + 4 * 2 * 4)
    client.decoder.feed(data)
    assert np.array_equal(client.decoder.screen, rgb(screen.frame))
    await client.close()


class ChangingScreen(FakeScreen):
    """Every capture shows a new picture, like a video."""

    def grab(self) -> np.ndarray:
        self.frame = self.frame.copy()
        self.frame[0:8, 0:8, 0] = self.grabs % 256
        return super().grab()


class StalledStream(MemoryStream):
    """A viewer that stops reading: sends block once ``stall`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.stall = False
        self.resume = asyncio.Event()

    async def send(self, data: bytes) -> None:
        if self.stall:
            await self.resume.wait()
        await super().send(data)


async def test_a_stalled_viewer_stops_capture_instead_of_queueing_frames() -> None:
    screen = ChangingScreen(sample_picture())
    client = Client(screen, None)
    stream = StalledStream()
    client.stream = stream
    client.task.cancel()
    client.task = asyncio.create_task(serve_rfb(stream, screen, None, name="desk"))
    await client.handshake()
    client.send(set_encodings(0, c.ENC_CONTINUOUS_UPDATES))
    client.send(continuous(0, 0, W, H))
    await wait_until(lambda: screen.grabs >= 3)
    stream.stall = True
    await asyncio.sleep(0.05)
    stalled_at = screen.grabs
    tracemalloc.start()
    try:
        await asyncio.sleep(0.5)  # ~15 frames at the poll rate, were anyone capturing
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert screen.grabs <= stalled_at + 1
    assert peak < W * H * 4  # not even one more frame is held
    stream.stall = False
    stream.resume.set()
    await wait_until(lambda: screen.grabs > stalled_at + 3)  # and it goes on afterwards
    client.task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await client.task


async def test_a_viewer_that_does_not_answer_fences_gets_no_more_frames() -> None:
    screen = ChangingScreen(sample_picture())
    client = Client(screen, None)
    await client.handshake()
    client.send(set_encodings(0, c.ENC_FENCE, c.ENC_CONTINUOUS_UPDATES))
    client.send(continuous(0, 0, W, H))
    await wait_until(lambda: client.stream.sent and screen.grabs >= limits.RFB_FENCES_IN_FLIGHT)
    await asyncio.sleep(0.3)
    grabs = screen.grabs
    await asyncio.sleep(0.3)
    assert screen.grabs == grabs  # waiting for the viewer, not capturing
    decoder = Decoder(width=W, height=H, screen=np.zeros((H, W, 3), np.uint8))
    decoder.feed(client.stream.take())
    ours = [p for f, p in decoder.fences if p != b"hello"]
    assert len(ours) == limits.RFB_FENCES_IN_FLIGHT
    client.send(fence(c.FENCE_BLOCK_BEFORE, ours[0]))  # caught up with one
    await wait_until(lambda: screen.grabs > grabs)
    await client.close()
