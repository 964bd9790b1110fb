"""Fuzz target for the RFB client-message path (handshake, parser, updates).

Run under atheris for coverage-guided fuzzing:
    .venv/bin/python -m tests.fuzz.test_fuzz_rfb_client [atheris options]
Without atheris the same target runs as a hypothesis test in the normal suite.
Invariant: any input ends in success or RFBError, never another exception.
"""

import sys

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasuke.errors import RFBError
from tasuke.rfb.server import RFBServer

_FRAME = np.random.default_rng(0).integers(0, 256, (40, 70, 4), dtype=np.uint8)
_FRAME[:20, :35] = 17  # a flat area so fill and palette paths run too


def fuzz_one(data: bytes) -> None:
    """Feed ``data`` in the split points it encodes; only RFBError may escape."""
    server = RFBServer(70, 40, name="fuzz")
    # The first byte picks whether to start after a valid handshake, so the parser is reached.
    if data[:1] and data[0] & 1:
        server.receive_data(b"RFB 003.008\n\x01\x01")
        data = data[1:]
    step = (data[0] % 31) + 1 if data else 1
    try:
        for pos in range(0, len(data), step):
            server.receive_data(data[pos : pos + step])
            server.update(_FRAME)
            server.events_received()
            server.data_to_send()
    except RFBError:
        pass


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_fuzz_rfb_client_messages(data: bytes) -> None:
    fuzz_one(data)


def main() -> None:
    """Entry point for atheris."""
    import atheris  # type: ignore[import-not-found]

    atheris.Setup(sys.argv, fuzz_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
