"""CopyRect for scrolled content, checked with the independent decoder."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasuke.rfb import constants as c
from tasuke.rfb.server import RFBServer
from tasuke.rfb.tiles import ClientView, Rect
from tests.unit.rfb.decoder import Decoder
from tests.unit.rfb.fakes import client_init, request, rgb, set_encodings

W, H = 512, 400
TEXT = (24, 40, 440, 330)  # x, y, width, height of the scrolling text


def page(seed: int, lines: int = 80) -> np.ndarray:
    """A long text-like picture: rows of random two-colour 'glyphs', 8 pixels per line."""
    rng = np.random.default_rng(seed)
    ink = rng.random((lines * 8, TEXT[2])) < 0.25
    ink[:, :] &= (np.arange(lines * 8) % 8 < 6)[:, None]  # a blank gap between lines
    out = np.full((lines * 8, TEXT[2], 4), 250, np.uint8)
    out[ink] = (20, 20, 20, 255)
    return out


def screen(text: np.ndarray, offset: int) -> np.ndarray:
    frame = np.zeros((H, W, 4), np.uint8)
    frame[..., :3] = (90, 60, 30)
    x, y, w, h = TEXT
    frame[y : y + h, x : x + w] = text[offset : offset + h]
    return frame


def connect(*encodings: int) -> tuple[RFBServer, Decoder]:
    server = RFBServer(W, H, name="x")
    decoder = Decoder()
    server.receive_data(client_init(8))
    decoder.handshake(server.data_to_send())
    server.receive_data(set_encodings(*encodings))
    return server, decoder


def update(server: RFBServer, decoder: Decoder, frame: np.ndarray, incremental: bool) -> int:
    server.receive_data(request(0, 0, W, H, incremental=incremental))
    assert server.update(frame)
    data = server.data_to_send()
    decoder.feed(data)
    return len(data)


@pytest.mark.parametrize("encoding", [c.ENC_TIGHT, c.ENC_ZRLE, c.ENC_RAW])
@pytest.mark.parametrize("step", [37, 8, -21])
def test_scrolled_text_arrives_as_a_copy_and_exactly(encoding: int, step: int) -> None:
    text = page(1)
    start = 200
    server, decoder = connect(encoding, c.ENC_COPYRECT)
    plain, reference = connect(encoding)
    update(server, decoder, screen(text, start), incremental=False)
    update(plain, reference, screen(text, start), incremental=False)
    frame = screen(text, start + step)
    size = update(server, decoder, frame, incremental=True)
    plain_size = update(plain, reference, frame, incremental=True)
    assert np.array_equal(decoder.screen, rgb(frame))
    first = decoder.updates[-1][0]
    assert first.encoding == c.ENC_COPYRECT
    assert first.height >= TEXT[3] - abs(step) - 8
    assert size < plain_size / 3


def test_no_copy_for_clients_without_copyrect() -> None:
    text = page(2)
    server, decoder = connect(c.ENC_TIGHT)
    update(server, decoder, screen(text, 100), incremental=False)
    update(server, decoder, screen(text, 140), incremental=True)
    assert all(r.encoding != c.ENC_COPYRECT for r in decoder.updates[-1])
    assert np.array_equal(decoder.screen, rgb(screen(text, 140)))


def test_no_copy_in_answer_to_a_non_incremental_request() -> None:
    text = page(3)
    server, decoder = connect(c.ENC_TIGHT, c.ENC_COPYRECT)
    update(server, decoder, screen(text, 100), incremental=False)
    update(server, decoder, screen(text, 140), incremental=False)
    assert all(r.encoding != c.ENC_COPYRECT for r in decoder.updates[-1])


def test_unrelated_change_is_not_mistaken_for_a_scroll() -> None:
    server, decoder = connect(c.ENC_TIGHT, c.ENC_COPYRECT)
    update(server, decoder, screen(page(4), 0), incremental=False)
    frame = screen(page(5), 0)
    update(server, decoder, frame, incremental=True)
    assert all(r.encoding != c.ENC_COPYRECT for r in decoder.updates[-1])
    assert np.array_equal(decoder.screen, rgb(frame))


def test_a_row_that_differs_only_where_signatures_do_not_look_is_still_exact() -> None:
    text = page(4)
    server, decoder = connect(c.ENC_TIGHT, c.ENC_COPYRECT)
    before = screen(text, 100)
    update(server, decoder, before, incremental=False)
    after = screen(text, 112)
    xs = np.nonzero((after != before)[..., :3].any(axis=2))[1]
    x0, width = int(xs.min()), int(xs.max() - xs.min() + 1)
    bands = np.linspace(x0, x0 + width - 32, 8).astype(int)  # where row signatures look
    unseen = next(x for x in range(x0, x0 + width) if not ((bands <= x) & (x < bands + 32)).any())
    y = TEXT[1] + TEXT[3] // 3
    after[y, unseen, :3] = 255 - after[y, unseen, :3]  # same signature as its old row
    update(server, decoder, after, incremental=True)
    assert np.array_equal(decoder.screen, rgb(after))
    assert decoder.updates[-1][0].encoding == c.ENC_COPYRECT


def test_after_a_copy_only_the_newly_shown_rows_are_sent() -> None:
    # A scroll by 60 pixels shows 60 new rows across two tile rows (more tiles than are cut
    # one by one); the rest of those tile rows is not resent.
    text = page(6)
    server, decoder = connect(c.ENC_TIGHT, c.ENC_COPYRECT)
    update(server, decoder, screen(text, 200), incremental=False)
    frame = screen(text, 260)
    update(server, decoder, frame, incremental=True)
    assert np.array_equal(decoder.screen, rgb(frame))
    copy, *rest = decoder.updates[-1]
    assert copy.encoding == c.ENC_COPYRECT
    assert rest, "the new rows must be sent"
    assert sum(r.width * r.height for r in rest) <= TEXT[2] * 60


def test_a_scroll_after_a_busy_picture_is_found_within_a_few_updates() -> None:
    # A video in the text area (no scroll to find) for a while, then the text scrolls: the
    # search, run less often meanwhile, finds the scroll again within a few updates.
    text = page(7)
    rng = np.random.default_rng(8)
    server, decoder = connect(c.ENC_TIGHT, c.ENC_COPYRECT)
    update(server, decoder, screen(text, 100), incremental=False)
    x, y, w, h = TEXT
    for _ in range(12):
        frame = screen(text, 100)
        frame[y : y + h, x : x + w, :3] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        update(server, decoder, frame, incremental=True)
    update(server, decoder, screen(text, 100), incremental=True)
    copies = []
    for step in range(1, 7):
        frame = screen(text, 100 + 8 * step)
        update(server, decoder, frame, incremental=True)
        assert np.array_equal(decoder.screen, rgb(frame))
        copies.append(decoder.updates[-1][0].encoding == c.ENC_COPYRECT)
    assert any(copies[:4]), copies
    assert all(copies[copies.index(True) :]), copies


@settings(max_examples=60, deadline=None)
@given(
    y=st.integers(0, 150),
    source_y=st.integers(0, 150),
    height=st.integers(1, 149),
    x=st.integers(0, 40),
    width=st.integers(1, 60),
)
def test_recording_a_copy_moves_exactly_those_rows(
    y: int, source_y: int, height: int, x: int, width: int
) -> None:
    # Overlapping in either direction, and blocks of any height (copied in chunks).
    height = min(height, 300 - max(y, source_y))
    view = ClientView(100, 300)
    rng = np.random.default_rng(y * 1000 + source_y)
    before = rng.integers(0, 1 << 24, (300, 100), dtype=np.uint32)
    view.mark_sent(before, [Rect(0, 0, 100, 300)])
    view.copy_within(source_y, Rect(x, y, width, height))
    want = before.copy()
    want[y : y + height, x : x + width] = before[source_y : source_y + height, x : x + width]
    assert np.array_equal(view.sent, want)
