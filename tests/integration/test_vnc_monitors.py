"""Two RandR monitors on Xvfb: listed, reported to viewers as two screens, selectable, and
followed when monitors are added or removed mid-session."""

import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import Xlib.display
from tests.integration.test_vnc_interop import tasuke_vnc
from tests.support.monitors import two_monitors, xrandr
from tests.support.xtools import screenshot, wait_until
from tests.support.xvfb import xauth_free_env, xvfb
from tests.unit.rfb.decoder import Decoder
from tests.unit.rfb.fakes import client_init, request, set_encodings

from tasuke.desktop.x11 import X11Screen
from tasuke.errors import ConfigError
from tasuke.rfb import constants as c

pytestmark = [pytest.mark.x11, pytest.mark.timeout(90)]

LEFT, RIGHT = (0, 0, 640, 480), (640, 0, 640, 480)
MIDDLE, WHOLE = (320, 120, 640, 240), (0, 0, 1280, 480)
_DEADLINE = 20.0
"""Seconds a test waits for the viewer to be told of a change."""


MARKS = [
    ((100, 60, 60, 40), 0xFF0000),
    ((700, 120, 60, 40), 0x0000FF),
    ((1200, 170, 60, 40), 0x00FF00),
]
"""Something on each monitor."""


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """Two monitors that the tests leave as they are."""
    with two_monitors(MARKS) as name:
        yield name


@pytest.fixture
def changing() -> Iterator[str]:
    """Two monitors of its own, for one test that adds or removes monitors."""
    with two_monitors(MARKS) as name:
        yield name


def test_the_monitors_are_listed_and_each_can_be_captured(display: str) -> None:
    screen = X11Screen(display)
    try:
        assert screen.monitors() == [LEFT, RIGHT]
        assert screen.captured_area() == (0, 0, 1280, 480)
        screen.select_monitor(2)
        assert screen.size() == (640, 480)
        right = screen.grab()[..., 2::-1]
        assert np.array_equal(right, screenshot(display)[:, 640:])
        with pytest.raises(ConfigError, match="no monitor 3"):
            screen.select_monitor(3)
    finally:
        screen.close()


class Viewer:
    """A blocking RFB client: the test decoder over a TCP socket."""

    def __init__(self, port: int, *encodings: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.decoder = Decoder()
        version = self.read(12)
        self.sock.sendall(client_init())
        head = self.read(2 + 4 + 4 + 16 + 4)
        (name_len,) = struct.unpack_from(">I", head, len(head) - 4)
        self.decoder.handshake(version + head + self.read(name_len))
        self.sock.sendall(set_encodings(*encodings))

    def read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            assert chunk, "tasuke vnc closed the connection"
            data += chunk
        return data

    def update(self, size: int) -> None:
        """Ask for the whole screen; decode an update of ``size`` bytes."""
        d = self.decoder
        self.sock.sendall(request(0, 0, d.width, d.height, incremental=False))
        d.feed(self.read(size))

    def next_update(self) -> None:
        """Read and decode one FramebufferUpdate of Raw, DesktopSize and ExtendedDesktopSize
        rectangles (what this viewer asks for), however long it is."""
        head = self.read(4)
        assert head[0] == 0, f"unexpected server message {head[0]}"
        (count,) = struct.unpack_from(">H", head, 2)
        parts = [head]
        for _ in range(count):
            rect = self.read(12)
            _, _, w, h, encoding = struct.unpack(">HHHHi", rect)
            parts.append(rect)
            if encoding == c.ENC_RAW:
                parts.append(self.read(w * h * 4))
            elif encoding == c.ENC_EXTENDED_DESKTOP_SIZE:
                screens = self.read(4)
                parts += [screens, self.read(16 * screens[0])]
            else:
                assert encoding == c.ENC_DESKTOP_SIZE, f"unexpected encoding {encoding}"
        self.decoder.feed(b"".join(parts))

    def watch(self, condition: Callable[[], bool], what: str) -> None:
        """Keep asking for incremental updates until ``condition`` holds.

        Raises:
            AssertionError: it still does not hold after the deadline.
        """
        deadline = time.monotonic() + _DEADLINE
        while not condition():
            left = deadline - time.monotonic()
            assert left > 0, f"the viewer was not told: {what}"
            self.sock.settimeout(left)
            d = self.decoder
            self.sock.sendall(request(0, 0, d.width, d.height, incremental=True))
            try:
                self.next_update()
            except TimeoutError:
                raise AssertionError(f"the viewer was not told: {what}") from None

    def close(self) -> None:
        self.sock.close()


def test_all_monitors_are_reported_as_two_screens(display: str) -> None:
    with tasuke_vnc(display) as port:
        viewer = Viewer(port, c.ENC_RAW, c.ENC_EXTENDED_DESKTOP_SIZE)
        try:
            assert (viewer.decoder.width, viewer.decoder.height) == (1280, 480)
            viewer.update(4 + 12 + 4 + 2 * 16)
            assert viewer.decoder.layouts == [(0, 0, 1280, 480, [LEFT, RIGHT])]
        finally:
            viewer.close()


def test_one_monitor_is_served_alone(display: str) -> None:
    with tasuke_vnc(display, "--monitor", "2") as port:
        viewer = Viewer(port, c.ENC_RAW)
        try:
            assert (viewer.decoder.width, viewer.decoder.height) == (640, 480)
            rows = -(-480 // 64)
            viewer.update(4 + rows * 12 + 640 * 480 * 4)
            assert np.array_equal(viewer.decoder.screen, screenshot(display)[:, 640:])
        finally:
            viewer.close()


def test_a_monitor_that_does_not_exist_is_a_clear_error(display: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tasuke.cli", "vnc", "--display", display, "--monitor", "3"],
        env=xauth_free_env(display),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "has no monitor 3" in done.stderr


def test_the_screen_source_follows_its_monitor_and_falls_back_to_all(changing: str) -> None:
    screen = X11Screen(changing, monitor=2)
    try:
        xrandr(changing, "--delmonitor", "left")
        # The output "left" stood for is listed again as a monitor of its own (RandR 1.5), after
        # the others; the monitor shown is now number 1 and still shown.
        wait_until(lambda: screen.grab() is not None and screen.monitors() == [RIGHT, WHOLE])
        assert screen.captured_area() == RIGHT
        assert np.array_equal(screen.grab()[..., 2::-1], screenshot(changing)[:, 640:])
        xrandr(changing, "--delmonitor", "right")
        wait_until(lambda: screen.grab() is not None and screen.captured_area() != RIGHT)
        assert screen.captured_area() == WHOLE
        assert screen.grab().shape == (480, 1280, 4)
    finally:
        screen.close()


def test_a_region_off_a_shrunk_desktop_asks_for_a_whole_capture() -> None:
    with xvfb(1280, 480) as name:
        screen = X11Screen(name)
        try:
            assert screen.damaged_regions() is None  # the first capture is whole
            screen.grab()
            xrandr(name, "--newmode", "small", "0", "640", "0", "0", "0", "400", "0", "0", "0")
            xrandr(name, "--addmode", "screen", "small")
            xrandr(name, "--output", "screen", "--mode", "small")
            # Damage was asked for before the change: the region is off the desktop now.
            assert screen.grab_region(1000, 0, 64, 64).shape[:2] != (64, 64)
            assert screen.damaged_regions() is None
            assert screen.grab().shape == (400, 640, 4)
            assert screen.monitors() == [(0, 0, 640, 400)]
        finally:
            screen.close()


def test_a_viewer_is_told_of_monitors_added_and_removed(changing: str) -> None:
    with tasuke_vnc(changing) as port:
        viewer = Viewer(port, c.ENC_RAW, c.ENC_EXTENDED_DESKTOP_SIZE)
        try:
            viewer.update(4 + 12 + 4 + 2 * 16)
            assert viewer.decoder.layouts == [(0, 0, 1280, 480, [LEFT, RIGHT])]
            xrandr(changing, "--setmonitor", "middle", "640/170x240/64+320+120", "none")
            viewer.watch(lambda: len(viewer.decoder.screens) == 3, "a monitor was added")
            assert viewer.decoder.layouts[-1] == (0, 0, 1280, 480, [LEFT, RIGHT, MIDDLE])
            xrandr(changing, "--delmonitor", "middle")
            viewer.watch(lambda: len(viewer.decoder.screens) == 2, "a monitor was removed")
            assert viewer.decoder.layouts[-1] == (0, 0, 1280, 480, [LEFT, RIGHT])
        finally:
            viewer.close()


@pytest.mark.parametrize("encoding", [c.ENC_EXTENDED_DESKTOP_SIZE, c.ENC_DESKTOP_SIZE])
def test_a_viewer_of_a_removed_monitor_is_shown_the_whole_desktop(
    changing: str, encoding: int
) -> None:
    with tasuke_vnc(changing, "--monitor", "2") as port:
        viewer = Viewer(port, c.ENC_RAW, encoding)
        d = viewer.decoder
        try:
            assert (d.width, d.height) == (640, 480)
            xrandr(changing, "--delmonitor", "right")
            viewer.watch(lambda: (d.width, d.height) == (1280, 480), "its monitor is gone")
            if encoding == c.ENC_EXTENDED_DESKTOP_SIZE:
                assert d.layouts[-1] == (0, 0, 1280, 480, [LEFT])
            # The whole desktop follows, without a request for it.
            viewer.watch(
                lambda: np.array_equal(d.screen, screenshot(changing)), "the whole desktop"
            )
        finally:
            viewer.close()


def test_a_viewer_follows_the_desktop_when_its_size_changes() -> None:
    with xvfb(1280, 480) as name, tasuke_vnc(name) as port:
        viewer = Viewer(port, c.ENC_RAW, c.ENC_EXTENDED_DESKTOP_SIZE)
        d = viewer.decoder
        try:
            viewer.update(4 + 12 + 4 + 16)
            xrandr(name, "--newmode", "small", "0", "640", "0", "0", "0", "400", "0", "0", "0")
            xrandr(name, "--addmode", "screen", "small")
            xrandr(name, "--output", "screen", "--mode", "small")
            viewer.watch(lambda: (d.width, d.height) == (640, 400), "the desktop shrank")
            assert d.layouts[-1] == (0, 0, 640, 400, [(0, 0, 640, 400)])
            # Back to a larger desktop than the capture buffers were last made for.
            xrandr(name, "--output", "screen", "--mode", "1280x480")
            viewer.watch(lambda: (d.width, d.height) == (1280, 480), "the desktop grew")
            assert d.layouts[-1] == (0, 0, 1280, 480, [WHOLE])
            painter = Xlib.display.Display(name)
            root = painter.screen().root
            root.fill_rectangle(root.create_gc(foreground=0x00FF00), 1000, 300, 200, 100)
            painter.sync()
            painter.close()
            viewer.watch(lambda: np.array_equal(d.screen, screenshot(name)), "the picture")
            assert d.screen[350, 1100].tolist() == [0, 255, 0]
        finally:
            viewer.close()
