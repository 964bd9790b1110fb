"""The XDamage hints the screen engine uses: skip captures of an idle X display, and
capture only the rectangles that were drawn."""

import asyncio
import select
from collections.abc import Iterator

import numpy as np
import pytest
import Xlib.display
from tests.support.xtools import screenshot, wait_until
from tests.support.xvfb import xvfb
from tests.unit.rfb.decoder import Decoder
from tests.unit.rfb.fakes import MemoryStream, client_init, request, set_encodings

from tasuke.desktop.base import ChangeEvents, DamagedRegions
from tasuke.desktop.x11 import X11Screen
from tasuke.rfb import constants as c
from tasuke.rfb.session import DamageHint, serve_rfb

pytestmark = [pytest.mark.x11, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with xvfb(320, 240) as name:
        yield name


def test_damage_reports_drawing_and_nothing_else(display: str) -> None:
    screen = X11Screen(display)
    painter = Xlib.display.Display(display)
    try:
        assert isinstance(screen, DamageHint)
        assert screen.damaged()  # nothing is known before the first capture
        screen.grab()
        assert not screen.damaged()
        root = painter.screen().root
        gc = root.create_gc(foreground=painter.screen().white_pixel)
        root.fill_rectangle(gc, 10, 10, 20, 20)
        painter.sync()
        wait_until(screen.damaged, timeout=5, what="a damage event for the drawing")
        assert not screen.damaged()  # reported once, then reset
    finally:
        painter.close()
        screen.close()


def _fill(painter: Xlib.display.Display, x: int, y: int, w: int, h: int, pixel: int) -> None:
    root = painter.screen().root
    gc = root.create_gc(foreground=pixel)
    root.fill_rectangle(gc, x, y, w, h)
    gc.free()
    painter.sync()


def test_damage_regions_say_where_was_drawn(display: str) -> None:
    screen = X11Screen(display)
    painter = Xlib.display.Display(display)
    try:
        assert isinstance(screen, DamagedRegions)
        screen.damaged_regions()
        screen.grab()
        assert screen.damaged_regions() == []
        _fill(painter, 100, 50, 30, 20, 0x123456)
        rects = wait_until(screen.damaged_regions, timeout=5, what="a damage rectangle")
        assert rects is not None
        x0 = min(x for x, _, _, _ in rects)
        y0 = min(y for _, y, _, _ in rects)
        x1 = max(x + w for x, _, w, _ in rects)
        y1 = max(y + h for _, y, _, h in rects)
        assert (x0, y0, x1, y1) == (100, 50, 130, 70)
        part = screen.grab_region(100, 50, 30, 20).copy()
        whole = screen.grab()
        assert np.array_equal(part, whole[50:70, 100:130])
        assert (part[..., :3] == (0x56, 0x34, 0x12)).all()  # B, G, R
    finally:
        painter.close()
        screen.close()


class _CountingScreen(X11Screen):
    whole_grabs = 0

    def grab(self) -> np.ndarray:
        self.whole_grabs += 1
        return super().grab()


async def test_vnc_client_sees_small_drawings_without_whole_captures(display: str) -> None:
    screen = _CountingScreen(display)
    painter = Xlib.display.Display(display)
    stream = MemoryStream()
    task = asyncio.create_task(serve_rfb(stream, screen, None, name="x"))
    try:
        await stream.wait_for(12)
        stream.incoming.put_nowait(client_init())
        decoder = Decoder()
        decoder.handshake(b"RFB 003.008\n" + await stream.wait_for(2 + 4 + 24 + 1))
        stream.incoming.put_nowait(set_encodings(c.ENC_TIGHT))
        stream.incoming.put_nowait(request(0, 0, 320, 240, incremental=False))
        await _settle(stream, decoder, display)
        grabs = screen.whole_grabs
        for i in range(4):
            _fill(painter, 20 + 30 * i, 200, 12, 16, 0x10 * i)
            stream.incoming.put_nowait(request(0, 0, 320, 240, incremental=True))
            await _settle(stream, decoder, display)
        assert screen.whole_grabs == grabs
    finally:
        stream.incoming.put_nowait(b"")
        await asyncio.wait_for(task, 5)
        painter.close()
        screen.close()


async def _settle(stream: MemoryStream, decoder: Decoder, display: str) -> None:
    """Decode updates until the client's picture equals the screen."""
    async with asyncio.timeout(10):
        while not np.array_equal(decoder.screen, screenshot(display)):
            stream.changed.clear()
            if not stream.sent:
                await stream.changed.wait()
            decoder.feed(stream.take())


def test_drawing_makes_the_event_socket_readable(display: str) -> None:
    screen = X11Screen(display)
    painter = Xlib.display.Display(display)
    try:
        assert isinstance(screen, ChangeEvents)
        fd = screen.fileno()
        assert fd >= 0
        screen.damaged_regions()
        screen.grab()
        assert not screen.events_queued()
        assert select.select([fd], [], [], 0)[0] == []  # still: nothing to wake up for
        _fill(painter, 5, 5, 3, 3, 0x010203)
        assert select.select([fd], [], [], 5)[0] == [fd]
        assert screen.damaged_regions() == [(5, 5, 3, 3)]
    finally:
        painter.close()
        screen.close()
