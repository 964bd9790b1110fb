"""Two RandR monitors on a real Xvfb, as a customer with two screens has them."""

import contextlib
import subprocess
from collections.abc import Iterable, Iterator

import Xlib.display

from tests.support.xvfb import xauth_free_env, xvfb

__all__ = ["two_monitors", "xrandr"]


def xrandr(display: str, *args: str) -> None:
    """Run xrandr on ``display`` (as the customer plugging monitors in or out would); fail the
    test if it fails."""
    env = xauth_free_env(display)
    subprocess.run(["xrandr", "-d", display, *args], env=env, check=True, timeout=20)


@contextlib.contextmanager
def two_monitors(paint: Iterable[tuple[tuple[int, int, int, int], int]]) -> Iterator[str]:
    """A 1280x480 Xvfb cut into two 640x480 RandR monitors, "left" and "right", with each
    ((x, y, width, height), 0xRRGGBB) of ``paint`` filled in on the root window."""
    with xvfb(1280, 480) as name:
        xrandr(name, "--setmonitor", "left", "640/170x480/127+0+0", "screen")
        xrandr(name, "--setmonitor", "right", "640/170x480/127+640+0", "none")
        painter = Xlib.display.Display(name)
        root = painter.screen().root
        for (x, y, w, h), pixel in paint:
            gc = root.create_gc(foreground=pixel)
            root.fill_rectangle(gc, x, y, w, h)
        painter.sync()
        painter.close()
        yield name
