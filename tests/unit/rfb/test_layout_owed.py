"""A size or layout told in an update of its own still owes the viewer its pixels.

Regression: the capture behind such an update spends its damage, so on a still screen the
next capture found nothing to send and the viewer (noVNC) kept a blank or stale canvas.
"""

import numpy as np

from tasuke.rfb import constants as c
from tasuke.rfb.server import RFBServer
from tasuke.rfb.tiles import Rect
from tests.unit.rfb.decoder import Decoder
from tests.unit.rfb.fakes import client_init, request, rgb, sample_picture, set_encodings

W, H = 256, 192


def _connect() -> tuple[RFBServer, Decoder]:
    server = RFBServer(W, H, name="owed")
    decoder = Decoder()
    server.receive_data(client_init())
    decoder.handshake(server.data_to_send())
    server.receive_data(set_encodings(c.ENC_RAW, c.ENC_EXTENDED_DESKTOP_SIZE))
    return server, decoder


def _still(width: int, height: int) -> np.ndarray:
    """A damage mask saying nothing was drawn since the previous capture."""
    return np.zeros(((height + 63) // 64, (width + 63) // 64), bool)


def _step(server: RFBServer, decoder: Decoder, frame: np.ndarray, damage: object) -> None:
    job = server.begin_update()
    assert job is not None, "no update owed"
    data = server.encode_update(job, frame, None, damage)  # type: ignore[arg-type]
    server.finish_update(job, data)
    decoder.feed(server.data_to_send())


def test_the_first_picture_follows_the_layout_on_a_still_screen() -> None:
    server, decoder = _connect()
    server.set_screens((Rect(0, 0, 128, H), Rect(128, 0, 128, H)))
    frame = sample_picture(W, H)
    server.receive_data(request(0, 0, W, H, incremental=False))
    _step(server, decoder, frame, None)
    assert decoder.layouts
    assert not np.any(decoder.screen)
    assert server.update_requested
    _step(server, decoder, frame, _still(W, H))
    assert np.array_equal(decoder.screen, rgb(frame))


def test_after_a_new_size_the_whole_picture_is_sent_even_if_still() -> None:
    server, decoder = _connect()
    frame = sample_picture(W, H)
    server.receive_data(request(0, 0, W, H, incremental=False))
    _step(server, decoder, frame, None)
    _step(server, decoder, frame, _still(W, H))
    assert np.array_equal(decoder.screen, rgb(frame))
    # One monitor chosen: the capture is smaller and was whole, so its damage is spent.
    smaller = np.ascontiguousarray(frame[:, 128:])
    server.receive_data(request(0, 0, W, H, incremental=True))
    _step(server, decoder, smaller, None)
    assert decoder.layouts[-1][2:4] == (128, H)
    assert server.update_requested
    _step(server, decoder, smaller, _still(128, H))
    assert np.array_equal(decoder.screen[:, :128], rgb(smaller))
