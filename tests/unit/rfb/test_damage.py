"""Damage regions: capture and compare only what the screen source says was drawn."""

import asyncio
import contextlib
import os
import time

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tasuke import limits
from tasuke.desktop.base import ChangeEvents, DamagedRegions
from tasuke.rfb import constants as c
from tasuke.rfb.capture import Capture
from tasuke.rfb.server import RFBServer
from tasuke.rfb.session import serve_rfb
from tasuke.rfb.tiles import TILE, ClientView, Rect, mask_rects, tile_mask
from tests.unit.rfb.decoder import Decoder
from tests.unit.rfb.fakes import (
    FakeScreen,
    MemoryStream,
    RegionScreen,
    client_init,
    request,
    rgb,
    sample_picture,
)

W, H = 256, 192


def test_region_screen_is_a_damaged_regions_source() -> None:
    assert isinstance(RegionScreen(sample_picture()), DamagedRegions)
    assert not isinstance(FakeScreen(sample_picture()), DamagedRegions)


def test_tile_mask_and_its_rectangles_cover_the_damage() -> None:
    rects = [Rect(10, 10, 5, 5), Rect(100, 130, 100, 40), Rect(250, 190, 50, 50)]
    mask = tile_mask(rects, W, H)
    assert mask.shape == (3, 4)
    assert mask.sum() == 1 + 3  # tile (0, 0); row 2, columns 1..3 (the clipped corner is in it)
    boxes = mask_rects(mask, W, H)
    covered = np.zeros((H, W), bool)
    for b in boxes:
        covered[b.y : b.y + b.height, b.x : b.x + b.width] = True
    for r in rects:
        clipped = r.clip(W, H)
        assert clipped is not None
        assert covered[
            clipped.y : clipped.y + clipped.height, clipped.x : clipped.x + clipped.width
        ].all()
    assert covered.sum() == mask.sum() * TILE * TILE


def test_a_damaged_window_is_one_rectangle() -> None:
    mask = tile_mask([Rect(64, 0, 128, 192)], W, H)
    assert mask_rects(mask, W, H) == [Rect(64, 0, 128, 192)]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, W - 1), st.integers(0, H - 1)), min_size=1, max_size=20),
    st.integers(0, 2**32 - 1),
)
def test_comparing_only_damaged_tiles_finds_what_a_full_compare_finds(
    points: list[tuple[int, int]], seed: int
) -> None:
    before = sample_picture()
    full_view, damage_view = ClientView(W, H), ClientView(W, H)
    for view in (full_view, damage_view):
        keys = view.keys(before)
        view.mark_sent(keys, [Rect(0, 0, W, H)])
    after = before.copy()
    rng = np.random.default_rng(seed)
    for x, y in points:
        after[y, x, :3] = rng.integers(0, 256, 3)
    damage = tile_mask([Rect(x, y, 1, 1) for x, y in points], W, H)
    expected = full_view.dirty_tiles(full_view.keys(after))
    got = damage_view.dirty_tiles(damage_view.keys(after, damage), damage)
    assert np.array_equal(got, expected)
    assert np.array_equal(damage_view.keys(after), full_view.keys(after))


def connect() -> tuple[RFBServer, Decoder]:
    server = RFBServer(W, H, name="d")
    decoder = Decoder()
    server.receive_data(client_init())
    decoder.handshake(server.data_to_send())
    server.receive_data(b"\x02\x00\x00\x01" + c.ENC_RAW.to_bytes(4, "big", signed=True))
    return server, decoder


def update(server: RFBServer, capture: Capture, decoder: Decoder, *, full: bool = False) -> bool:
    server.receive_data(request(0, 0, W, H, incremental=not full))
    job = server.begin_update()
    assert job is not None
    shot = capture.take(whole=True, forced=job.full is not None, refresh=server.refresh_pending)
    data = None
    if shot is not None:
        data = server.encode_update(job, shot.frame, shot.cursor, shot.damage, clean=shot.clean)
    server.finish_update(job, data)
    decoder.feed(server.data_to_send())
    server.events_received()
    return data is not None


def test_typing_grabs_and_sends_only_the_damaged_tiles() -> None:
    screen = RegionScreen(sample_picture())
    capture = Capture(screen, time.monotonic)
    server, decoder = connect()
    assert update(server, capture, decoder, full=True)
    assert capture.grabs == 1
    screen.drawn = []  # from now on the screen reports damage
    for i in range(5):
        screen.draw(70 + 7 * i, 20, 6, 9, (i * 40, 10, 200))
        assert update(server, capture, decoder)
        assert np.array_equal(decoder.screen, rgb(screen.frame))
    assert capture.grabs == 1  # never the whole screen again
    assert all(w <= 2 * TILE and h <= TILE for _, _, w, h in screen.region_grabs)
    [rect] = decoder.updates[-1]
    assert (rect.width, rect.height) == (6, 9)  # the letter, not the tile


def test_padding_bytes_of_the_source_are_no_change() -> None:
    # Capture backends fill the X of B, G, R, X as they like; the canvas clears it, so the
    # encoder can take its words as colour keys, and a padding-only change sends nothing.
    screen = RegionScreen(sample_picture())
    capture = Capture(screen, time.monotonic)
    server, decoder = connect()
    assert update(server, capture, decoder, full=True)
    screen.drawn = []
    screen.frame = screen.frame.copy()
    screen.frame[70:120, 66:120, 3] = 7
    screen.drawn.append((66, 70, 54, 50))
    assert not update(server, capture, decoder)
    assert screen.region_grabs  # it was looked at
    shot = capture.take(whole=True, forced=True, refresh=False)
    assert shot is not None
    assert shot.clean
    assert not shot.frame[..., 3].any()
    assert np.array_equal(decoder.screen, rgb(screen.frame))


def test_an_idle_screen_grabs_nothing() -> None:
    screen = RegionScreen(sample_picture())
    capture = Capture(screen, time.monotonic)
    server, decoder = connect()
    update(server, capture, decoder, full=True)
    screen.drawn = []
    assert not update(server, capture, decoder)
    assert capture.grabs == 1
    assert screen.region_grabs == []


def test_unknown_damage_grabs_the_whole_screen() -> None:
    screen = RegionScreen(sample_picture())
    capture = Capture(screen, time.monotonic)
    server, decoder = connect()
    update(server, capture, decoder, full=True)
    screen.draw(0, 0, 200, 150, (1, 2, 3))  # screen.drawn is None: "cannot tell"
    assert update(server, capture, decoder)
    assert capture.grabs == 2
    assert np.array_equal(decoder.screen, rgb(screen.frame))


def test_a_non_incremental_request_resends_everything_from_the_canvas() -> None:
    screen = RegionScreen(sample_picture())
    capture = Capture(screen, time.monotonic)
    server, decoder = connect()
    update(server, capture, decoder, full=True)
    screen.drawn = []
    screen.draw(5, 5, 3, 3, (9, 9, 9))
    decoder.screen[:] = 0  # the viewer lost its picture
    assert update(server, capture, decoder, full=True)
    assert capture.grabs == 1
    assert np.array_equal(decoder.screen, rgb(screen.frame))


def test_a_partial_request_makes_the_next_capture_whole() -> None:
    screen = RegionScreen(sample_picture())
    capture = Capture(screen, time.monotonic)
    server, decoder = connect()
    update(server, capture, decoder, full=True)
    screen.drawn = []
    screen.draw(200, 150, 10, 10, (1, 1, 1))  # outside the partial request below
    server.receive_data(request(0, 0, 64, 64, incremental=True))
    job = server.begin_update()
    assert job is not None
    shot = capture.take(whole=False, forced=False, refresh=False)
    assert shot is not None
    assert shot.damage is None
    server.finish_update(job, server.encode_update(job, shot.frame, shot.cursor, shot.damage))
    server.data_to_send()
    assert update(server, capture, decoder)  # the change outside is still found
    assert np.array_equal(decoder.screen, rgb(screen.frame))


class EventScreen(RegionScreen):
    """A region screen whose damage also arrives as bytes on a pipe, like X events."""

    def __init__(self, frame: np.ndarray) -> None:
        super().__init__(frame)
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        self.asked = 0

    def fileno(self) -> int:
        return self.read_fd

    def events_queued(self) -> bool:
        return False

    def damaged_regions(self) -> list[tuple[int, int, int, int]] | None:
        self.asked += 1
        with contextlib.suppress(BlockingIOError):
            os.read(self.read_fd, 4096)
        return super().damaged_regions()

    def draw_and_tell(self, x: int, y: int, w: int, h: int) -> None:
        self.draw(x, y, w, h, (7, 7, 7))
        os.write(self.write_fd, b"!")

    def close(self) -> None:
        os.close(self.read_fd)
        os.close(self.write_fd)


async def test_a_still_screen_with_change_events_is_not_polled() -> None:
    screen = EventScreen(sample_picture())
    assert isinstance(screen, ChangeEvents)
    stream = MemoryStream()
    task = asyncio.create_task(serve_rfb(stream, screen, None, name="e"))
    try:
        decoder = Decoder()
        await stream.wait_for(12)
        stream.incoming.put_nowait(client_init())
        decoder.handshake(b"RFB 003.008\n" + await stream.wait_for(2 + 4 + 24 + 1))
        stream.incoming.put_nowait(request(0, 0, W, H, incremental=False))
        decoder.feed(await stream.wait_for(4 + 3 * 12 + W * H * 4))
        screen.drawn = []
        stream.incoming.put_nowait(request(0, 0, W, H, incremental=True))
        asked = screen.asked
        await asyncio.sleep(0.5)  # a still screen: what would the engine do meanwhile?
        assert screen.asked - asked <= 2  # not ~15 polls at the idle rate, at most one or two
        started = time.monotonic()
        screen.draw_and_tell(10, 10, 4, 4)
        decoder.feed(await stream.wait_for(4 + 12 + 4 * 4 * 4))
        assert time.monotonic() - started < limits.RFB_EVENT_IDLE_POLL_INTERVAL / 2
        assert np.array_equal(decoder.screen, rgb(screen.frame))
    finally:
        stream.incoming.put_nowait(b"")
        await asyncio.wait_for(task, 5)
        screen.close()
