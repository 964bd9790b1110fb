"""ContinuousUpdates and Fence: announcements, continuous frames, fence answers, throttling."""

import numpy as np
import pytest

from tasuke import limits
from tasuke.errors import RFBError
from tasuke.rfb import constants as c
from tasuke.rfb.messages import KeyEvent
from tasuke.rfb.server import RFBServer
from tests.unit.rfb.decoder import Decoder
from tests.unit.rfb.fakes import (
    client_init,
    continuous,
    fence,
    key,
    request,
    rgb,
    sample_picture,
    set_encodings,
)

W, H = 256, 192
REQUEST = 1 << 31


def connect(*encodings: int) -> tuple[RFBServer, Decoder]:
    server = RFBServer(W, H, name="x")
    decoder = Decoder()
    server.receive_data(client_init(8))
    decoder.handshake(server.data_to_send())
    server.receive_data(set_encodings(*encodings))
    decoder.feed(server.data_to_send())
    return server, decoder


def changed(frame: np.ndarray, value: int) -> np.ndarray:
    frame = frame.copy()
    frame[10:20, 10:20, :3] = value
    return frame


def test_continuous_updates_are_announced_once() -> None:
    server, decoder = connect(c.ENC_RAW, c.ENC_CONTINUOUS_UPDATES)
    assert decoder.end_of_continuous_updates == 1
    server.receive_data(set_encodings(c.ENC_RAW, c.ENC_CONTINUOUS_UPDATES))
    assert server.data_to_send() == b""


def test_fence_is_announced_with_a_request() -> None:
    _, decoder = connect(c.ENC_RAW, c.ENC_FENCE)
    [(flags, _)] = decoder.fences
    assert flags & REQUEST


def test_no_announcements_to_clients_that_did_not_ask() -> None:
    _, decoder = connect(c.ENC_RAW)
    assert decoder.messages == []


def test_continuous_updates_flow_without_requests_until_disabled() -> None:
    frame = sample_picture()
    server, decoder = connect(c.ENC_RAW, c.ENC_CONTINUOUS_UPDATES)
    server.receive_data(request(0, 0, W, H, incremental=False))
    server.receive_data(continuous(0, 0, W, H))
    assert server.update(frame)
    for value in (1, 2, 3):
        frame = changed(frame, value)
        assert server.update(frame)  # no request in between
        decoder.feed(server.data_to_send())
        assert np.array_equal(decoder.screen, rgb(frame))
    assert not server.update(frame)  # nothing changed: nothing sent
    server.receive_data(continuous(0, 0, 0, 0, enable=False))
    decoder.feed(server.data_to_send())
    assert decoder.messages[-1] == "end-of-cu"
    assert not server.update(changed(frame, 9))


def test_incremental_requests_are_ignored_while_continuous() -> None:
    frame = sample_picture()
    server, decoder = connect(c.ENC_RAW, c.ENC_CONTINUOUS_UPDATES)
    server.receive_data(request(0, 0, W, H, incremental=False))
    server.update(frame)
    decoder.feed(server.data_to_send())
    server.receive_data(continuous(0, 0, 64, 64))
    server.receive_data(request(0, 0, W, H, incremental=True))
    outside = frame.copy()
    outside[100:110, 200:210, :3] = 5
    assert not server.update(outside)  # only the continuous region counts
    server.receive_data(request(192, 64, 64, 64, incremental=False))
    assert server.update(outside)  # a non-incremental request is honoured anywhere
    decoder.feed(server.data_to_send())
    assert np.array_equal(decoder.screen, rgb(outside))


def test_client_fence_is_answered_with_its_payload_and_known_flags() -> None:
    server, decoder = connect(c.ENC_RAW, c.ENC_FENCE)
    server.receive_data(fence(REQUEST | 0b111 | (1 << 20), b"ping"))
    decoder.feed(server.data_to_send())
    assert decoder.fences[-1] == (0b111, b"ping")


def test_oversized_fence_payload_is_refused() -> None:
    server, _ = connect(c.ENC_RAW, c.ENC_FENCE)
    with pytest.raises(RFBError, match="Fence payload"):
        server.receive_data(fence(REQUEST, b"x" * 65))


def test_fence_answer_waits_for_the_update_being_encoded() -> None:
    frame = sample_picture()
    server, decoder = connect(c.ENC_RAW, c.ENC_FENCE)
    server.receive_data(request(0, 0, W, H, incremental=False))
    job = server.begin_update()
    assert job is not None
    server.events_received()
    server.receive_data(fence(REQUEST | c.FENCE_BLOCK_AFTER, b"sync") + key(0x61, True))
    assert server.data_to_send() == b""
    assert server.events_received() == []  # BlockAfter: the key waits for the answer
    server.finish_update(job, server.encode_update(job, frame, None))
    decoder.feed(server.data_to_send())
    assert decoder.messages[-2:] == ["update", "fence"]
    assert decoder.fences[-1] == (c.FENCE_BLOCK_AFTER, b"sync")
    assert [e for e in server.events_received() if isinstance(e, KeyEvent)] == [
        KeyEvent(0x61, True)
    ]


def test_unanswered_fences_throttle_and_the_newest_frame_follows() -> None:
    frame = sample_picture()
    server, decoder = connect(c.ENC_RAW, c.ENC_FENCE, c.ENC_CONTINUOUS_UPDATES)
    server.receive_data(fence(0, b"hello"))  # the client answers the announcement
    server.receive_data(request(0, 0, W, H, incremental=False))
    server.receive_data(continuous(0, 0, W, H))
    sent = 0
    for value in range(10):
        frame = changed(frame, value)
        sent += server.update(frame)
    assert sent == limits.RFB_FENCES_IN_FLIGHT  # then it waits for the viewer
    assert not server.update_requested
    decoder.feed(server.data_to_send())
    ours = [p for f, p in decoder.fences if f & REQUEST and p != b"hello"]
    assert len(ours) == limits.RFB_FENCES_IN_FLIGHT
    server.receive_data(fence(c.FENCE_BLOCK_BEFORE, ours[0]))  # the viewer caught up once
    assert server.update(frame)
    decoder.feed(server.data_to_send())
    assert np.array_equal(decoder.screen, rgb(frame))  # the newest screen, not a backlog
