"""X11Screen against a real Xvfb showing the test window's pattern."""

import numpy as np
import pytest

from tasuke.desktop import Cursor
from tasuke.desktop.x11 import X11Screen
from tasuke.errors import ConfigError, DesktopError
from tests.support.testwindow import TestWindow, expected_pattern, pattern_mask
from tests.support.xtools import wait_until
from tests.support.xvfb import xvfb

pytestmark = pytest.mark.x11


def _mismatches(screen: X11Screen, win: TestWindow) -> int:
    rgb = screen.grab()[..., 2::-1]
    want = expected_pattern(win.width, win.height)
    return int((np.any(rgb != want, axis=2) & pattern_mask(win.width, win.height)).sum())


def test_capture_equals_the_pattern_on_screen(screen: X11Screen, window: TestWindow) -> None:
    assert screen.size() == (window.width, window.height) == (1024, 768)
    wait_until(lambda: _mismatches(screen, window) == 0, what="the test pattern on screen")
    frame = screen.grab()
    assert frame.shape == (768, 1024, 4)
    assert frame.dtype == np.uint8
    # Spot checks a reader can follow: the top-left bar is white, the bottom-right grey.
    assert tuple(frame[2, 2, :3]) == (255, 255, 255)
    assert tuple(frame[700, 1000, 2::-1]) == (235, 235, 235)


def test_grab_is_a_view_of_the_capture_buffer(screen: X11Screen, window: TestWindow) -> None:
    frame = screen.grab()
    assert frame.base is not None  # no copy: a view onto mss's bytes
    assert frame.flags["C_CONTIGUOUS"]


def test_cursor_has_a_plausible_shape(screen: X11Screen, window: TestWindow) -> None:
    cursor = screen.cursor()
    assert isinstance(cursor, Cursor)
    height, width, channels = cursor.pixels.shape
    assert channels == 4
    assert 1 <= width <= 256
    assert 1 <= height <= 256
    assert 0 <= cursor.hot_x < width
    assert 0 <= cursor.hot_y < height
    alpha = cursor.pixels[..., 3]
    assert alpha.max() == 255, "some of the cursor is opaque"
    assert alpha.min() == 0, "the cursor is not a solid block"
    # Same shape, same serial: the same object, so callers can skip resending it.
    assert screen.cursor() is cursor


def test_bad_monitor_is_a_config_error(desktop: str) -> None:
    with pytest.raises(ConfigError, match="no monitor 7"):
        X11Screen(desktop, monitor=7)


def test_unreachable_display_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot open X display"):
        X11Screen(":4242")


def test_display_gone_is_a_desktop_error() -> None:
    with xvfb(320, 240) as display:
        screen = X11Screen(display)
        assert screen.grab().shape == (240, 320, 4)
    with pytest.raises(DesktopError):
        screen.grab()
    with pytest.raises(DesktopError):
        screen.cursor()
    screen.close()
    screen.close()  # idempotent
