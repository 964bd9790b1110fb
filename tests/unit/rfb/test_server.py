"""The sans-I/O RFB server: handshake, updates, change detection, and bad input."""

import struct

import numpy as np
import pytest

from tasuke import limits
from tasuke.desktop.base import Cursor
from tasuke.errors import LocalError, RFBError
from tasuke.rfb import constants as c
from tasuke.rfb.encoders.tight import compact_length
from tasuke.rfb.messages import ClientCutText, KeyEvent, PointerEvent
from tasuke.rfb.server import RFBServer
from tests.unit.rfb.decoder import ClientFormat, Decoder
from tests.unit.rfb.fakes import (
    client_init,
    cut_text,
    key,
    pointer,
    request,
    rgb,
    sample_picture,
    set_encodings,
)

W, H = 256, 192
JPEG_Q8 = c.ENC_JPEG_QUALITY_MIN + 8


def connect(
    *encodings: int, fmt: ClientFormat | None = None, minor: int = 8, size: tuple[int, int] = (W, H)
) -> tuple[RFBServer, Decoder]:
    """A server after the handshake, and a decoder that has parsed ServerInit."""
    server = RFBServer(*size, name="テスト desk")
    decoder = Decoder(fmt or ClientFormat())
    server.receive_data(client_init(minor))
    rest = decoder.handshake(server.data_to_send(), minor=minor)
    assert rest == b""
    if fmt is not None:
        server.receive_data(fmt.message())
    if encodings:
        server.receive_data(set_encodings(*encodings))
    return server, decoder


def full_update(server: RFBServer, decoder: Decoder, frame: np.ndarray) -> None:
    server.receive_data(request(0, 0, server.width, server.height, incremental=False))
    assert server.update(frame)
    decoder.feed(server.data_to_send())


def test_handshake_3_8_announces_size_name_and_default_format() -> None:
    server = RFBServer(W, H, name="テスト desk")
    assert server.data_to_send() == b"RFB 003.008\n"
    server.receive_data(b"RFB 003.008\n")
    assert server.data_to_send() == b"\x01\x01"  # one security type: None
    server.receive_data(b"\x01")
    assert server.data_to_send() == b"\x00\x00\x00\x00"  # SecurityResult OK
    server.receive_data(b"\x01")  # ClientInit, shared
    init = server.data_to_send()
    assert struct.unpack_from(">HH", init) == (W, H)
    # 32 bpp, depth 24, little-endian, true colour, 255/255/255, shifts 16/8/0
    assert init[4:20] == bytes([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0])
    assert init[24:].decode() == "テスト desk"


@pytest.mark.parametrize("minor", [3, 7, 8])
def test_older_clients_get_their_handshake(minor: int) -> None:
    server, decoder = connect(minor=minor)
    assert (decoder.width, decoder.height) == (W, H)
    assert server.minor_version == minor


def test_handshake_arrives_one_byte_at_a_time() -> None:
    server = RFBServer(W, H, name="x")
    for byte in client_init(8):
        server.receive_data(bytes([byte]))
    decoder = Decoder()
    decoder.handshake(server.data_to_send())
    assert decoder.name == "x"


@pytest.mark.parametrize(
    "version", [b"RFB 004.000\n", b"RFB 003.00x\n", b"GET / HTTP/1.1\r\n", b"RFB 003.008\r"]
)
def test_bad_version_is_refused(version: bytes) -> None:
    server = RFBServer(W, H, name="x")
    with pytest.raises(RFBError):
        server.receive_data(version)


def test_security_type_not_offered_is_refused_with_a_reason() -> None:
    server = RFBServer(W, H, name="x")
    server.receive_data(b"RFB 003.008\n")
    server.data_to_send()
    with pytest.raises(RFBError, match="security type 2"):
        server.receive_data(b"\x02")
    failure = server.data_to_send()
    assert failure[:4] == b"\x00\x00\x00\x01"
    assert b"None" in failure


def test_raw_full_update_is_exact() -> None:
    frame = sample_picture()
    server, decoder = connect()
    full_update(server, decoder, frame)
    assert np.array_equal(decoder.screen, rgb(frame))
    assert {r.encoding for r in decoder.updates[0]} == {c.ENC_RAW}


@pytest.mark.parametrize(
    "fmt",
    [
        ClientFormat(rshift=0, gshift=8, bshift=16),  # what noVNC asks for
        ClientFormat(big_endian=True, rshift=24, gshift=16, bshift=8),
        ClientFormat(bpp=32, depth=24, rshift=1, gshift=11, bshift=21),  # odd shifts
    ],
)
def test_raw_in_other_32bit_formats_is_exact(fmt: ClientFormat) -> None:
    frame = sample_picture()
    server, decoder = connect(fmt=fmt)
    full_update(server, decoder, frame)
    assert np.array_equal(decoder.screen, rgb(frame))


@pytest.mark.parametrize(
    "fmt",
    [
        ClientFormat(bpp=16, depth=16, rmax=31, gmax=63, bmax=31, rshift=11, gshift=5, bshift=0),
        ClientFormat(bpp=8, depth=8, rmax=7, gmax=7, bmax=3, rshift=0, gshift=3, bshift=6),
    ],
)
def test_raw_in_low_colour_formats_is_close(fmt: ClientFormat) -> None:
    frame = sample_picture()
    server, decoder = connect(fmt=fmt)
    full_update(server, decoder, frame)
    error = np.abs(decoder.screen.astype(int) - rgb(frame).astype(int))
    assert error.max() <= 255 // (2 * min(fmt.rmax, fmt.gmax, fmt.bmax)) + 1


@pytest.mark.parametrize(
    "fmt", [ClientFormat(), ClientFormat(rshift=0, gshift=8, bshift=16), ClientFormat(depth=32)]
)
def test_tight_lossless_is_exact_and_picks_per_tile(fmt: ClientFormat) -> None:
    frame = sample_picture()
    server, decoder = connect(c.ENC_TIGHT, c.ENC_RAW, fmt=fmt)
    full_update(server, decoder, frame)
    assert np.array_equal(decoder.screen, rgb(frame))
    kinds = {r.kind for r in decoder.updates[0]}
    assert {"fill", "mono", "palette", "copy"} <= kinds
    assert "jpeg" not in kinds  # the client did not ask for JPEG


def test_tight_jpeg_only_for_photographic_tiles_and_close() -> None:
    frame = sample_picture()
    server, decoder = connect(c.ENC_TIGHT, JPEG_Q8)
    full_update(server, decoder, frame)
    by_kind = {r.kind for r in decoder.updates[0]}
    assert "jpeg" in by_kind
    assert "fill" in by_kind
    for r in decoder.updates[0]:
        got = decoder.screen[r.y : r.y + r.height, r.x : r.x + r.width].astype(int)
        want = rgb(frame)[r.y : r.y + r.height, r.x : r.x + r.width].astype(int)
        if r.kind == "jpeg":
            assert r.y >= 128
            assert r.x >= 128
            assert np.abs(got - want).mean() < 4
        else:
            assert np.array_equal(got, want)


def test_tight_zlib_streams_persist_across_updates() -> None:
    frame = sample_picture()
    server, decoder = connect(c.ENC_TIGHT)
    for step in range(3):
        frame = frame.copy()
        frame[128:192, 0:128, :3] = np.random.default_rng(step).integers(0, 256, (64, 128, 3))
        full_update(server, decoder, frame)
        assert np.array_equal(decoder.screen, rgb(frame))


def test_idle_screen_sends_nothing() -> None:
    frame = sample_picture()
    server, decoder = connect(c.ENC_TIGHT)
    full_update(server, decoder, frame)
    server.receive_data(request(0, 0, W, H, incremental=True))
    assert not server.update(frame.copy())
    assert server.data_to_send() == b""
    assert server.update_requested  # still pending until something changes


def test_small_change_sends_only_the_changed_pixels() -> None:
    frame = sample_picture()
    server, decoder = connect()
    full_update(server, decoder, frame)
    changed = frame.copy()
    changed[70:75, 200:210] = (1, 2, 3, 255)
    server.receive_data(request(0, 0, W, H, incremental=True))
    assert server.update(changed)
    data = server.data_to_send()
    decoder.feed(data)
    [rect] = decoder.updates[-1]
    assert (rect.x, rect.y, rect.width, rect.height) == (200, 70, 10, 5)
    assert len(data) == 4 + 12 + 10 * 5 * 4
    assert np.array_equal(decoder.screen, rgb(changed))


def test_change_of_the_padding_byte_alone_is_not_a_change() -> None:
    frame = sample_picture()
    server, decoder = connect()
    full_update(server, decoder, frame)
    changed = frame.copy()
    changed[..., 3] = 0
    server.receive_data(request(0, 0, W, H, incremental=True))
    assert not server.update(changed)


def test_incremental_request_covers_only_its_region() -> None:
    frame = sample_picture()
    server, decoder = connect()
    full_update(server, decoder, frame)
    changed = frame.copy()
    changed[:, :, :3] = 7
    server.receive_data(request(10, 20, 30, 40, incremental=True))
    assert server.update(changed)
    decoder.feed(server.data_to_send())
    [rect] = decoder.updates[-1]
    assert (rect.x, rect.y, rect.width, rect.height) == (10, 20, 30, 40)
    # the rest stays owed: a full incremental request now sends everything else
    server.receive_data(request(0, 0, W, H, incremental=True))
    assert server.update(changed)
    decoder.feed(server.data_to_send())
    assert np.array_equal(decoder.screen, rgb(changed))
    server.receive_data(request(10, 20, 30, 40, incremental=True))
    assert not server.update(changed)


def test_non_incremental_request_resends_an_unchanged_region() -> None:
    frame = sample_picture()
    server, decoder = connect()
    full_update(server, decoder, frame)
    server.receive_data(request(0, 0, 64, 64, incremental=False))
    assert server.update(frame)
    decoder.feed(server.data_to_send())
    assert [(r.x, r.y, r.width, r.height) for r in decoder.updates[-1]] == [(0, 0, 64, 64)]


def test_no_update_without_a_request() -> None:
    server, _ = connect()
    assert not server.update(sample_picture())
    assert server.data_to_send() == b""


def test_request_outside_the_screen_is_clipped() -> None:
    frame = sample_picture()
    server, decoder = connect()
    server.receive_data(request(200, 150, 5000, 5000, incremental=False))
    assert server.update(frame)
    decoder.feed(server.data_to_send())
    assert max(r.x + r.width for r in decoder.updates[-1]) == W
    assert max(r.y + r.height for r in decoder.updates[-1]) == H


def cursor(serial: int) -> Cursor:
    pixels = np.zeros((5, 9, 4), np.uint8)
    pixels[..., 0] = 255  # red
    pixels[1:4, 2:7, 3] = 255  # opaque middle
    return Cursor(pixels=pixels, hot_x=2, hot_y=1, serial=serial)


def test_cursor_shape_is_sent_once_per_serial() -> None:
    frame = sample_picture()
    server, decoder = connect(c.ENC_RAW, c.ENC_CURSOR)
    server.receive_data(request(0, 0, W, H, incremental=False))
    assert server.update(frame, cursor(1))
    decoder.feed(server.data_to_send())
    assert decoder.cursor is not None
    hot_x, hot_y, pixels, mask = decoder.cursor
    assert (hot_x, hot_y) == (2, 1)
    assert pixels.shape == (5, 9, 3)
    assert (pixels[mask] == (255, 0, 0)).all()
    assert mask.sum() == 15
    assert mask[1:4, 2:7].all()
    server.receive_data(request(0, 0, W, H, incremental=True))
    assert not server.update(frame, cursor(1))
    assert server.update(frame, cursor(2))
    decoder.feed(server.data_to_send())
    assert [r.encoding for r in decoder.updates[-1]] == [c.ENC_CURSOR]


def test_cursor_not_sent_to_clients_that_did_not_ask() -> None:
    server, decoder = connect(c.ENC_RAW)
    server.receive_data(request(0, 0, W, H, incremental=False))
    server.update(sample_picture(), cursor(1))
    decoder.feed(server.data_to_send())
    assert decoder.cursor is None


def test_screen_resize_sends_desktop_size_then_everything() -> None:
    server, decoder = connect(c.ENC_RAW, c.ENC_DESKTOP_SIZE)
    full_update(server, decoder, sample_picture())
    bigger = sample_picture(320, 200, seed=5)
    server.receive_data(request(0, 0, W, H, incremental=True))
    assert server.update(bigger)
    decoder.feed(server.data_to_send())
    assert [r.encoding for r in decoder.updates[-1]] == [c.ENC_DESKTOP_SIZE]
    assert (decoder.width, decoder.height) == (320, 200)
    server.receive_data(request(0, 0, 320, 200, incremental=True))
    assert server.update(bigger)
    decoder.feed(server.data_to_send())
    assert np.array_equal(decoder.screen, rgb(bigger))


def test_resize_without_desktop_size_support_keeps_the_old_size() -> None:
    server, decoder = connect(c.ENC_RAW)
    bigger = sample_picture(320, 200, seed=5)
    full_update(server, decoder, bigger)
    assert decoder.screen.shape == (H, W, 3)
    assert np.array_equal(decoder.screen, rgb(bigger)[:H, :W])


def test_input_events_come_out_in_order() -> None:
    server, _ = connect()
    server.receive_data(key(0xFF2A, True) + pointer(10, 20, 1) + key(0xFF2A, False))
    server.receive_data(cut_text("héllo".encode("latin-1")))
    events = [
        e
        for e in server.events_received()
        if isinstance(e, KeyEvent | PointerEvent | ClientCutText)
    ]
    assert events == [
        KeyEvent(0xFF2A, True),
        PointerEvent(10, 20, 1),
        KeyEvent(0xFF2A, False),
        ClientCutText("héllo"),
    ]


def test_qemu_extended_key_event_is_a_key_event() -> None:
    server, _ = connect()
    server.receive_data(struct.pack(">BBHII", 255, 0, 1, 0xFF21, 0x70))
    assert server.events_received() == [KeyEvent(0xFF21, True, 0x70)]


def test_zlib_level_pseudo_encoding_is_accepted() -> None:
    frame = sample_picture()
    server, decoder = connect(c.ENC_TIGHT, c.ENC_ZLIB_LEVEL_MIN + 9)
    full_update(server, decoder, frame)
    assert np.array_equal(decoder.screen, rgb(frame))


# --- bad input -------------------------------------------------------------------------------


def test_oversized_client_cut_text_is_refused_before_it_arrives() -> None:
    server, _ = connect()
    with pytest.raises(RFBError, match="ClientCutText"):
        server.receive_data(cut_text(b"", length=limits.MAX_CLIENT_CUT_TEXT + 1))


def test_client_cut_text_at_the_limit_is_accepted() -> None:
    server, _ = connect()
    server.receive_data(cut_text(b"a" * limits.MAX_CLIENT_CUT_TEXT))
    [event] = server.events_received()
    assert isinstance(event, ClientCutText)
    assert len(event.text) == limits.MAX_CLIENT_CUT_TEXT


def test_extended_clipboard_negative_length_is_refused() -> None:
    server, _ = connect()
    with pytest.raises(RFBError):
        server.receive_data(struct.pack(">BxxxI", 6, 0xFFFFFFF0))


def test_too_many_encodings_are_refused() -> None:
    server, _ = connect()
    with pytest.raises(RFBError, match="SetEncodings"):
        server.receive_data(set_encodings(*range(limits.MAX_SET_ENCODINGS + 1)))


def test_unknown_message_type_is_refused() -> None:
    server, _ = connect()
    with pytest.raises(RFBError, match="unknown client message type 42"):
        server.receive_data(b"\x2a" + b"\x00" * 30)


@pytest.mark.parametrize(
    ("fmt", "reason"),
    [
        (bytes([8, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), "colour-map"),
        (bytes([24, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]), "bits-per-pixel"),
        (bytes([32, 24, 0, 1, 0, 200, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]), "maximum"),
        (bytes([16, 16, 0, 1, 0, 31, 0, 63, 0, 31, 12, 5, 0, 0, 0, 0]), "shift"),
    ],
)
def test_unsupported_pixel_formats_are_refused_clearly(fmt: bytes, reason: str) -> None:
    server, _ = connect()
    with pytest.raises(RFBError, match=reason):
        server.receive_data(b"\x00\x00\x00\x00" + fmt)


def test_unparsed_bytes_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_RFB_BUFFER", 100)
    server, _ = connect()
    with pytest.raises(RFBError, match="unparsed"):
        server.receive_data(cut_text(b"x" * 200, length=1000))


@pytest.mark.parametrize(
    ("n", "wire"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16383, b"\xff\x7f"),
        (16384, b"\x80\x80\x01"),
    ],
)
def test_tight_compact_length(n: int, wire: bytes) -> None:
    assert compact_length(n) == wire


def test_impossible_screen_size_is_our_error_not_the_peers() -> None:
    with pytest.raises(LocalError):
        RFBServer(0, 10, name="x")
