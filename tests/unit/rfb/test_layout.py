"""Multi-monitor: ExtendedDesktopSize with one screen per monitor, and choosing a monitor."""

import argparse
import asyncio
import struct
from collections.abc import Callable

import numpy as np
import pytest

from tasuke.errors import ConfigError, RFBError
from tasuke.rfb import constants as c
from tasuke.rfb.cli import parse_monitor
from tasuke.rfb.layout import screens_of
from tasuke.rfb.server import RFBServer
from tasuke.rfb.session import MonitorChoice, serve_rfb
from tasuke.rfb.tiles import Rect
from tests.unit.rfb.decoder import Decoder
from tests.unit.rfb.fakes import (
    MemoryStream,
    RecordingSink,
    client_init,
    pointer,
    request,
    rgb,
    sample_picture,
    set_encodings,
)

W, H = 512, 192  # two monitors of 256 x 192 side by side
LEFT, RIGHT = (0, 0, 256, 192), (256, 0, 256, 192)


def connect(*encodings: int) -> tuple[RFBServer, Decoder]:
    server = RFBServer(W, H, name="two")
    decoder = Decoder()
    server.receive_data(client_init())
    decoder.handshake(server.data_to_send())
    server.receive_data(set_encodings(*encodings))
    return server, decoder


def desktop() -> np.ndarray:
    return np.concatenate([sample_picture(256, 192, seed=1), sample_picture(256, 192, seed=2)], 1)


def answer(server: RFBServer, decoder: Decoder, frame: np.ndarray, *, full: bool) -> None:
    server.receive_data(request(0, 0, server.width, server.height, incremental=not full))
    server.update(frame)
    decoder.feed(server.data_to_send())


def set_desktop_size(width: int, height: int, screens: list[tuple[int, ...]]) -> bytes:
    out = struct.pack(">BxHHBx", 251, width, height, len(screens))
    return out + b"".join(struct.pack(">IHHHHI", *s) for s in screens)


def test_screens_are_the_monitors_inside_the_captured_area() -> None:
    assert screens_of([LEFT, RIGHT], Rect(0, 0, W, H), W, H) == (Rect(*LEFT), Rect(*RIGHT))
    assert screens_of([LEFT, RIGHT], Rect(*RIGHT), 256, 192) == (Rect(0, 0, 256, 192),)
    assert screens_of([], Rect(0, 0, W, H), W, H) == (Rect(0, 0, W, H),)


def test_viewer_is_told_one_screen_per_monitor_then_gets_the_picture() -> None:
    server, decoder = connect(c.ENC_RAW, c.ENC_EXTENDED_DESKTOP_SIZE)
    server.set_screens((Rect(*LEFT), Rect(*RIGHT)))
    frame = desktop()
    answer(server, decoder, frame, full=True)
    assert decoder.layouts == [(0, 0, W, H, [LEFT, RIGHT])]  # reason: server, status: ok
    answer(server, decoder, frame, full=False)
    assert np.array_equal(decoder.screen, rgb(frame))
    answer(server, decoder, frame, full=False)
    assert len(decoder.layouts) == 1  # told once


def test_a_layout_change_is_told_again_without_resending_the_picture() -> None:
    server, decoder = connect(c.ENC_RAW, c.ENC_EXTENDED_DESKTOP_SIZE)
    frame = desktop()
    answer(server, decoder, frame, full=True)
    answer(server, decoder, frame, full=False)
    assert decoder.layouts[-1][4] == [(0, 0, W, H)]  # no monitors known: one screen
    server.set_screens((Rect(*LEFT), Rect(*RIGHT)))
    server.receive_data(request(0, 0, W, H, incremental=True))
    assert server.update(frame)
    data = server.data_to_send()
    decoder.feed(data)
    assert decoder.layouts[-1] == (0, 0, W, H, [LEFT, RIGHT])
    assert len(data) == 4 + 12 + 4 + 2 * 16


def test_set_desktop_size_is_refused_politely() -> None:
    server, decoder = connect(c.ENC_RAW, c.ENC_EXTENDED_DESKTOP_SIZE)
    frame = desktop()
    answer(server, decoder, frame, full=True)
    answer(server, decoder, frame, full=False)
    server.receive_data(set_desktop_size(800, 600, [(1, 0, 0, 800, 600, 0)]))
    answer(server, decoder, frame, full=False)
    reason, status, width, height, _ = decoder.layouts[-1]
    assert (reason, status) == (1, 1)  # this client asked; administratively prohibited
    assert (width, height) == (W, H)
    assert server.width == W


def test_set_desktop_size_without_screens_ends_the_stream() -> None:
    server, _ = connect(c.ENC_RAW, c.ENC_EXTENDED_DESKTOP_SIZE)
    with pytest.raises(RFBError, match="no screens"):
        server.receive_data(set_desktop_size(800, 600, []))


def test_set_desktop_size_arriving_in_pieces_waits() -> None:
    server, _ = connect(c.ENC_RAW)
    message = set_desktop_size(800, 600, [(1, 0, 0, 800, 600, 0), (2, 800, 0, 800, 600, 0)])
    server.events_received()
    server.receive_data(message[:20])
    assert server.events_received() == []  # not yet whole
    server.receive_data(message[20:])
    [event] = [e for e in server.events_received() if type(e).__name__ == "SetDesktopSize"]
    assert (event.width, event.height, len(event.screens)) == (800, 600, 2)


def test_a_resize_uses_extended_desktop_size_when_the_viewer_has_it() -> None:
    server, decoder = connect(c.ENC_RAW, c.ENC_EXTENDED_DESKTOP_SIZE)
    frame = desktop()
    answer(server, decoder, frame, full=True)
    answer(server, decoder, frame, full=False)
    server.set_screens((Rect(0, 0, 256, 192),))
    answer(server, decoder, np.ascontiguousarray(frame[:, 256:]), full=False)
    assert decoder.layouts[-1] == (0, 0, 256, 192, [(0, 0, 256, 192)])
    assert (server.width, server.height) == (256, 192)


async def wait_until(condition: Callable[[], object], deadline: float = 5.0) -> None:
    # Set on serve_rfb's worker threads, which have no event to signal: poll it.
    async with asyncio.timeout(deadline):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


class TwoMonitors:
    """A ScreenSource with two monitors side by side, like X11 with RandR."""

    def __init__(self) -> None:
        self.frame = desktop()
        self.area = (0, 0, W, H)

    def size(self) -> tuple[int, int]:
        return self.area[2], self.area[3]

    def grab(self) -> np.ndarray:
        x, y, w, h = self.area
        return np.ascontiguousarray(self.frame[y : y + h, x : x + w])

    def cursor(self) -> None:
        return None

    def close(self) -> None:
        pass

    def monitors(self) -> list[tuple[int, int, int, int]]:
        return [LEFT, RIGHT]

    def captured_area(self) -> tuple[int, int, int, int]:
        return self.area

    def select_monitor(self, index: int) -> None:
        if not 0 <= index <= 2:
            raise ConfigError(f"no monitor {index}")
        self.area = (0, 0, W, H) if index == 0 else [LEFT, RIGHT][index - 1]


async def test_the_agent_can_switch_monitors_during_a_session() -> None:
    source, sink, stream = TwoMonitors(), RecordingSink(), MemoryStream()
    choice = MonitorChoice(2)
    task = asyncio.create_task(serve_rfb(stream, source, sink, name="m", monitor=choice))
    decoder = Decoder()
    await stream.wait_for(12)
    stream.incoming.put_nowait(client_init())
    decoder.handshake(b"RFB 003.008\n" + await stream.wait_for(2 + 4 + 24 + 1))
    assert (decoder.width, decoder.height) == (256, 192)  # monitor 2 from the start
    stream.incoming.put_nowait(set_encodings(c.ENC_RAW, c.ENC_EXTENDED_DESKTOP_SIZE))
    stream.incoming.put_nowait(request(0, 0, 256, 192, incremental=False))
    decoder.feed(await stream.wait_for(4 + 12 + 4 + 16))  # the layout: one screen
    stream.incoming.put_nowait(request(0, 0, 256, 192, incremental=True))
    decoder.feed(await stream.wait_for(4 + 3 * 12 + 256 * 192 * 4))
    assert np.array_equal(decoder.screen, rgb(source.frame[:, 256:]))
    stream.incoming.put_nowait(pointer(10, 20, 0))
    await wait_until(lambda: sink.events)
    assert sink.events == [("pointer", 256 + 10, 20, 0)]  # desktop coordinates
    assert choice.monitors == [LEFT, RIGHT]
    choice.select(0)  # the console asks for all monitors
    stream.incoming.put_nowait(request(0, 0, 256, 192, incremental=True))
    decoder.feed(await stream.wait_for(4 + 12 + 4 + 2 * 16))
    assert decoder.layouts[-1] == (0, 0, W, H, [LEFT, RIGHT])
    stream.incoming.put_nowait(request(0, 0, W, H, incremental=True))
    decoder.feed(await stream.wait_for(4 + 3 * 12 + W * H * 4))
    assert np.array_equal(decoder.screen, rgb(source.frame))
    choice.select(7)  # no such monitor: refused, the picture stays
    stream.incoming.put_nowait(request(0, 0, W, H, incremental=True))
    await wait_until(lambda: choice.error is not None)
    assert choice.selected == 0
    stream.incoming.put_nowait(b"")
    await asyncio.wait_for(task, 5)


def test_monitor_option_takes_a_number_or_all() -> None:
    assert parse_monitor("all") == 0
    assert parse_monitor("2") == 2
    for bad in ("0", "-1", "left", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_monitor(bad)
