"""ExtendedDesktopSize (rfbproto, pseudo-encoding -308): the framebuffer and its screens.

With several monitors, the framebuffer is the whole desktop and each monitor is one *screen*
of it, so a viewer can show one monitor or all. The server sends the layout as a
FramebufferUpdate rectangle of encoding -308: x = reason (0 the server changed it, 1 the
client asked), y = status (0 done, 1 prohibited, 2 out of resources, 3 invalid layout),
width and height = the framebuffer size, then U8 number-of-screens, 3 padding bytes and per
screen U32 id, U16 x, U16 y, U16 width, U16 height, U32 flags.

A viewer's SetDesktopSize (client message 251) is always answered "prohibited": the agent
shows the customer's screen as it is and never changes the customer's display settings.
"""

import struct
from collections.abc import Sequence

from tasuke.rfb import constants as c
from tasuke.rfb.tiles import Rect

__all__ = [
    "REASON_CLIENT",
    "REASON_SERVER",
    "STATUS_OK",
    "STATUS_PROHIBITED",
    "Layout",
    "layout_rectangle",
    "screens_of",
]

REASON_SERVER = 0
REASON_CLIENT = 1
STATUS_OK = 0
STATUS_PROHIBITED = 1
_RECT = struct.Struct(">HHHHi")
_COUNT = struct.Struct(">B3x")
_SCREEN = struct.Struct(">IHHHHI")
_MAX_SCREENS = 255
"""number-of-screens is one byte."""

Layout = tuple[int, int, tuple[Rect, ...]]
"""Framebuffer width, height and its screens."""


def screens_of(
    monitors: Sequence[tuple[int, int, int, int]], area: Rect, width: int, height: int
) -> tuple[Rect, ...]:
    """The monitors (desktop coordinates) that show inside the captured ``area``, relative to
    it and clipped to the width x height framebuffer; the whole framebuffer if none does."""
    screens = []
    for x, y, w, h in monitors:
        moved = Rect(x - area.x, y - area.y, w, h).clip(width, height)
        if moved is not None and moved not in screens:
            screens.append(moved)
    return tuple(screens[:_MAX_SCREENS]) or (Rect(0, 0, width, height),)


def layout_rectangle(layout: Layout, *, reason: int, status: int) -> bytes:
    """One ExtendedDesktopSize rectangle (header and body) for ``layout``."""
    width, height, screens = layout
    out = _RECT.pack(reason, status, width, height, c.ENC_EXTENDED_DESKTOP_SIZE)
    out += _COUNT.pack(len(screens))
    for index, s in enumerate(screens):
        out += _SCREEN.pack(index + 1, s.x, s.y, s.width, s.height, 0)
    return out
