"""The asyncio runner over an in-memory stream, screen and input sink."""

import asyncio

import numpy as np
import pytest

from tasuke import limits
from tasuke.errors import RFBError
from tasuke.rfb.session import serve_rfb
from tests.unit.rfb.decoder import Decoder
from tests.unit.rfb.fakes import (
    FakeScreen,
    MemoryStream,
    RecordingSink,
    client_init,
    key,
    pointer,
    request,
    rgb,
    sample_picture,
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
        raw_size = 4 + 12 * 12 + W * H * 4  # 12 tiles of 64x64, Raw
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
    data = await client.stream.wait_for(4 + 12 + 64 * 64 * 4)
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
    await wait_until(lambda: sum(map(len, client.stream.sent)) >= 4 + 12 * 12 + W * H * 4)
    assert max(map(len, client.stream.sent)) <= 10_000
    await client.close()
