"""The channel-1 byte stream handed to the RFB engine."""

import pytest

from tasuke import limits
from tasuke.agent.stream import ChannelStream
from tasuke.errors import LimitExceeded


async def test_send_cuts_records_and_awaits_each() -> None:
    sent: list[bytes] = []

    async def record(chunk: bytes) -> None:
        sent.append(chunk)

    stream = ChannelStream(record, lambda: True)
    data = bytes(range(256)) * (limits.RFB_SEND_CHUNK // 256 * 2 + 1)
    await stream.send(data)
    assert b"".join(sent) == data
    assert all(len(chunk) <= limits.RFB_SEND_CHUNK for chunk in sent)
    assert len(sent) == 3


async def test_nothing_leaves_without_consent() -> None:
    sent: list[bytes] = []

    async def record(chunk: bytes) -> None:
        sent.append(chunk)

    allowed = False
    stream = ChannelStream(record, lambda: allowed)
    await stream.send(b"RFB 003.008\n")
    assert sent == []
    allowed = True
    await stream.send(b"x")
    assert sent == [b"x"]


async def test_receive_returns_fed_bytes_then_end_of_stream() -> None:
    async def record(chunk: bytes) -> None:
        raise AssertionError("not sending")

    stream = ChannelStream(record, lambda: True)
    stream.feed(b"abc")
    stream.close()
    assert await stream.receive() == b"abc"
    assert await stream.receive() == b""
    assert await stream.receive() == b""


async def test_feed_never_waits_and_too_much_input_is_refused() -> None:
    async def record(chunk: bytes) -> None:
        pass

    stream = ChannelStream(record, lambda: True)
    for _ in range(limits.AGENT_RFB_INPUT_QUEUE):
        stream.feed(b"x")  # returns at once: the WebSocket reader is never held up
    with pytest.raises(LimitExceeded, match="more input"):
        stream.feed(b"y")
    # What the engine took makes room again.
    assert await stream.receive() == b"x"
    stream.feed(b"y")


async def test_input_bytes_are_bounded_too() -> None:
    async def record(chunk: bytes) -> None:
        pass

    stream = ChannelStream(record, lambda: True)
    chunk = b"z" * (limits.AGENT_RFB_INPUT_BYTES // 4)
    for _ in range(4):
        stream.feed(chunk)
    with pytest.raises(LimitExceeded):
        stream.feed(b"!")
