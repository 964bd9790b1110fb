"""Two RandR monitors on Xvfb: listed, reported to viewers as two screens, selectable."""

import socket
import struct
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
import Xlib.display
from tests.integration.test_vnc_interop import tasuke_vnc
from tests.support.xtools import screenshot
from tests.support.xvfb import xauth_free_env, xvfb
from tests.unit.rfb.decoder import Decoder
from tests.unit.rfb.fakes import client_init, request, set_encodings

from tasuke.desktop.x11 import X11Screen
from tasuke.errors import ConfigError
from tasuke.rfb import constants as c

pytestmark = [pytest.mark.x11, pytest.mark.timeout(90)]

LEFT, RIGHT = (0, 0, 640, 480), (640, 0, 640, 480)


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A 1280x480 Xvfb cut into two 640x480 RandR monitors, with something on each."""
    with xvfb(1280, 480) as name:
        env = xauth_free_env(name)
        for args in (
            ["--setmonitor", "left", "640/170x480/127+0+0", "screen"],
            ["--setmonitor", "right", "640/170x480/127+640+0", "none"],
        ):
            subprocess.run(["xrandr", "-d", name, *args], env=env, check=True, timeout=20)
        painter = Xlib.display.Display(name)
        root = painter.screen().root
        for x, pixel in ((100, 0xFF0000), (700, 0x0000FF), (1200, 0x00FF00)):
            gc = root.create_gc(foreground=pixel)
            root.fill_rectangle(gc, x, 50 + x // 10, 60, 40)
        painter.sync()
        painter.close()
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
