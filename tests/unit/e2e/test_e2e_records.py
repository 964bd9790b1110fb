"""Records: what arrives is what was sent, and every kind of interference ends the session."""

import pytest

from tasuke import limits
from tasuke.e2e import CHANNEL_CONTROL, CHANNEL_RFB, ChannelData, Role, Suite
from tasuke.e2e.wire import MAX_RECORD_FRAME, MessageType
from tasuke.errors import E2EError
from tests.unit.e2e.pairing import Pair, pair


@pytest.fixture(params=[Suite.X25519, Suite.P256], ids=["x25519", "p256"])
def established(request: pytest.FixtureRequest) -> Pair:
    p = pair(agent_suites=(request.param,), console_suites=(request.param,))
    p.handshake()
    return p


def _records_from_agent(p: Pair, *payloads: bytes) -> list[bytes]:
    for payload in payloads:
        p.agent.send(CHANNEL_RFB, payload)
    return p.agent.frames_to_send()


def test_records_round_trip_both_ways_on_both_channels(established: Pair) -> None:
    p = established
    assert p.agent_to_console(CHANNEL_CONTROL, b'{"type":"info"}') == [
        ChannelData(CHANNEL_CONTROL, b'{"type":"info"}')
    ]
    assert p.console_to_agent(CHANNEL_RFB, b"RFB 003.008\n") == [
        ChannelData(CHANNEL_RFB, b"RFB 003.008\n")
    ]
    assert p.agent_to_console(CHANNEL_RFB, b"") == [ChannelData(CHANNEL_RFB, b"")]
    for i in range(50):
        assert p.agent_to_console(CHANNEL_RFB, bytes([i]) * i) == [
            ChannelData(CHANNEL_RFB, bytes([i]) * i)
        ]


def test_largest_record_passes(established: Pair) -> None:
    payload = b"x" * (limits.MAX_RECORD_PLAINTEXT - 1)
    established.agent.send(CHANNEL_RFB, payload)
    (frame,) = established.agent.frames_to_send()
    assert len(frame) == MAX_RECORD_FRAME
    assert len(frame) <= limits.MAX_BINARY_FRAME
    established.console.receive_frame(frame)
    assert established.console.events_received() == [ChannelData(CHANNEL_RFB, payload)]


def test_oversize_send_raises_and_kills(established: Pair) -> None:
    with pytest.raises(E2EError, match="too large"):
        established.agent.send(CHANNEL_RFB, b"x" * limits.MAX_RECORD_PLAINTEXT)
    with pytest.raises(E2EError):
        established.agent.send(CHANNEL_RFB, b"ok")


def test_oversize_record_received_aborts(established: Pair) -> None:
    frame = bytes([MessageType.RECORD]) + bytes(MAX_RECORD_FRAME)
    with pytest.raises(E2EError, match="too large"):
        established.console.receive_frame(frame)
    assert not established.console.established


def test_unknown_channel_is_refused_both_ways(established: Pair) -> None:
    with pytest.raises(E2EError, match="unknown channel"):
        established.agent.send(7, b"x")


@pytest.mark.parametrize("position", [0, 5, 8, 9, 12, -1])
def test_tampered_record_aborts(established: Pair, position: int) -> None:
    (frame,) = _records_from_agent(established, b"secret screen bytes")
    edited = bytearray(frame)
    edited[position] ^= 0x40
    with pytest.raises(E2EError):
        established.console.receive_frame(bytes(edited))
    assert not established.console.established
    assert established.console.sas is None


def test_replayed_record_aborts(established: Pair) -> None:
    (frame,) = _records_from_agent(established, b"one")
    established.console.receive_frame(frame)
    with pytest.raises(E2EError, match="sequence 0 where 1"):
        established.console.receive_frame(frame)


def test_reordered_records_abort(established: Pair) -> None:
    first, second = _records_from_agent(established, b"one", b"two")
    with pytest.raises(E2EError, match="sequence 1 where 0"):
        established.console.receive_frame(second)
    with pytest.raises(E2EError):
        established.console.receive_frame(first)


def test_dropped_record_aborts(established: Pair) -> None:
    _first, _second, third = _records_from_agent(established, b"1", b"2", b"3")
    with pytest.raises(E2EError, match="sequence 2 where 0"):
        established.console.receive_frame(third)


@pytest.mark.parametrize("keep", [1, 8, 9, 20, 25])
def test_truncated_record_aborts(established: Pair, keep: int) -> None:
    (frame,) = _records_from_agent(established, b"some payload bytes")
    with pytest.raises(E2EError):
        established.console.receive_frame(frame[:keep])


def test_truncated_by_one_byte_aborts(established: Pair) -> None:
    (frame,) = _records_from_agent(established, b"some payload bytes")
    with pytest.raises(E2EError, match="authentication"):
        established.console.receive_frame(frame[:-1])


def test_record_reflected_back_to_its_sender_aborts(established: Pair) -> None:
    (frame,) = _records_from_agent(established, b"mirror")
    with pytest.raises(E2EError, match="authentication"):
        established.agent.receive_frame(frame)


def test_record_from_another_session_aborts() -> None:
    a, b = pair(seed=b"a"), pair(seed=b"b")
    a.handshake()
    b.handshake()
    a.agent.send(CHANNEL_RFB, b"for a only")
    (frame,) = a.agent.frames_to_send()
    with pytest.raises(E2EError):
        b.console.receive_frame(frame)


def test_handshake_message_after_established_aborts(established: Pair) -> None:
    with pytest.raises(E2EError, match="not allowed"):
        established.agent.receive_frame(bytes([MessageType.CONFIRM]) + bytes(32))


def test_after_a_failure_every_call_raises(established: Pair) -> None:
    (frame,) = _records_from_agent(established, b"x")
    with pytest.raises(E2EError):
        established.console.receive_frame(frame[:-1])
    with pytest.raises(E2EError):
        established.console.receive_frame(frame)
    with pytest.raises(E2EError):
        established.console.send(CHANNEL_CONTROL, b"{}")
    with pytest.raises(E2EError):
        established.console.events_received()
    assert established.console.role is Role.CONSOLE
