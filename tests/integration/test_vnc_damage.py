"""The XDamage hint the screen engine uses to skip captures of an idle X display."""

from collections.abc import Iterator

import pytest
import Xlib.display
from tests.support.xtools import wait_until
from tests.support.xvfb import xvfb

from tasuke.desktop.x11 import X11Screen
from tasuke.rfb.session import DamageHint

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
