"""Arbitrary bytes from the network raise E2EError and nothing else, in every state."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasuke.e2e import CHANNEL_RFB, E2ESession, Role
from tasuke.e2e.wire import MessageType
from tasuke.errors import E2EError
from tests.unit.e2e.pairing import SESSION_ID, pair

_types = st.sampled_from([int(m) for m in MessageType] + [0, 0x05, 0x11, 0xFF])
frames = st.one_of(
    st.binary(max_size=300),
    st.tuples(_types, st.binary(max_size=200)).map(lambda t: bytes([t[0]]) + t[1]),
)


def _expect_only_e2e_error(session: E2ESession, data: list[bytes]) -> None:
    for frame in data:
        try:
            session.receive_frame(frame)
            session.frames_to_send()
            session.events_received()
        except E2EError:
            with pytest.raises(E2EError):
                session.receive_frame(frame)
            return


@settings(max_examples=300, deadline=None)
@given(st.lists(frames, min_size=1, max_size=4))
def test_console_at_start(data: list[bytes]) -> None:
    _expect_only_e2e_error(E2ESession(Role.CONSOLE, SESSION_ID), data)


@settings(max_examples=300, deadline=None)
@given(st.lists(frames, min_size=1, max_size=4))
def test_agent_after_commit(data: list[bytes]) -> None:
    agent = E2ESession(Role.AGENT, SESSION_ID)
    agent.initiate()
    _expect_only_e2e_error(agent, data)


@settings(max_examples=200, deadline=None)
@given(st.lists(frames, min_size=1, max_size=4), st.booleans())
def test_established_sides(data: list[bytes], agent_side: bool) -> None:
    p = pair()
    p.handshake()
    _expect_only_e2e_error(p.agent if agent_side else p.console, data)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 60), st.integers(0, 255))
def test_bit_flips_in_a_real_record_always_abort(position: int, xor: int) -> None:
    p = pair()
    p.handshake()
    p.agent.send(CHANNEL_RFB, b"0123456789abcdef0123456789abcdef")
    (frame,) = p.agent.frames_to_send()
    edited = bytearray(frame)
    edited[position % len(frame)] ^= xor or 1
    with pytest.raises(E2EError):
        p.console.receive_frame(bytes(edited))
