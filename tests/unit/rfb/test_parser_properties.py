"""Property tests: whatever a client sends, the core fails only with RFBError."""

import contextlib
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from tasuke.errors import RFBError
from tasuke.rfb.messages import parse_client_message
from tasuke.rfb.server import RFBServer
from tests.unit.rfb.fakes import client_init, sample_picture

_PICTURE = sample_picture()[:48, :64].copy()

# Message-shaped byte strings reach deeper than uniform noise.
_message = st.one_of(
    st.binary(max_size=64),
    st.builds(
        lambda t, rest: bytes([t]) + rest,
        st.sampled_from([0, 2, 3, 4, 5, 6, 255]),
        st.binary(max_size=40),
    ),
    st.builds(
        lambda n, rest: struct.pack(">BxH", 2, n) + rest,
        st.integers(0, 0xFFFF),
        st.binary(max_size=64),
    ),
    st.builds(lambda n: struct.pack(">BxxxI", 6, n), st.integers(0, 0xFFFFFFFF)),
    st.builds(lambda pf: b"\x00\x00\x00\x00" + pf, st.binary(min_size=16, max_size=16)),
)


@given(st.binary(max_size=200))
def test_parser_on_arbitrary_bytes_raises_only_rfb_error(data: bytes) -> None:
    try:
        parsed = parse_client_message(data)
    except RFBError:
        return
    if parsed is not None:
        assert 0 < parsed[1] <= len(data)


@settings(max_examples=300)
@given(st.lists(_message, max_size=12), st.lists(st.integers(1, 50), max_size=5))
def test_server_after_handshake_raises_only_rfb_error(chunks: list[bytes], cuts: list[int]) -> None:
    server = RFBServer(64, 48, name="fuzz")
    server.receive_data(client_init())
    data = b"".join(chunks)
    try:
        pos = 0
        for cut in [*cuts, len(data)]:
            server.receive_data(data[pos : pos + cut])
            pos += cut
            server.update(_PICTURE)
        server.receive_data(data[pos:])
    except RFBError:
        return
    server.events_received()
    server.data_to_send()


@given(st.binary(max_size=40))
def test_handshake_on_arbitrary_bytes_raises_only_rfb_error(data: bytes) -> None:
    server = RFBServer(64, 48, name="fuzz")
    with contextlib.suppress(RFBError):
        server.receive_data(data)
