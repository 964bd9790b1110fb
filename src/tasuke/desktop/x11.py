"""The X11 screen source: mss for pixels, XFixes for the pointer shape.

This module and :mod:`tasuke.desktop.x11_input` are the boundary where python-xlib
and mss exceptions become :mod:`tasuke.errors`: a display that cannot be opened
is a :class:`~tasuke.errors.ConfigError`, one that fails later a
:class:`~tasuke.errors.DesktopError`.
"""

import contextlib
import gc
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import mss
import mss.exception
import numpy as np
import Xlib.display
import Xlib.error
from Xlib.ext import damage

from tasuke.desktop.base import Cursor, Frame
from tasuke.errors import ConfigError, DesktopError

__all__ = ["X11Screen", "argb_to_rgba", "open_display", "translated_errors"]

_log = logging.getLogger(__name__)

# Everything python-xlib and mss raise when the server refuses a request or
# goes away. OSError covers a socket closed under python-xlib's feet.
_BACKEND_ERRORS: tuple[type[BaseException], ...] = (
    Xlib.error.XError,
    Xlib.error.DisplayError,
    Xlib.error.ConnectionClosedError,
    Xlib.error.XauthError,
    mss.exception.ScreenShotError,
    OSError,
)
# python-xlib raises ValueError for a malformed display name.
_OPEN_ERRORS: tuple[type[BaseException], ...] = (*_BACKEND_ERRORS, ValueError)


@contextlib.contextmanager
def translated_errors(action: str) -> Iterator[None]:
    """Turn backend exceptions raised inside the block into DesktopError.

    Raises:
        DesktopError: the X server refused ``action`` or the connection broke.
    """
    try:
        yield
    except _BACKEND_ERRORS as exc:
        raise DesktopError(f"X11 {action} failed: {exc}") from exc


def open_display(name: str, *, extensions: tuple[str, ...] = ()) -> Any:
    """Open an Xlib connection to ``name`` that has every one of ``extensions``.

    Raises:
        ConfigError: the display cannot be opened or lacks a needed extension.
    """
    failure: str | None = None
    with warnings.catch_warnings():
        # python-xlib 0.33 leaves the sockets of a failed attempt for the garbage
        # collector; collect them here, quietly, instead of warning somewhere later.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            display = Xlib.display.Display(name)
        except _OPEN_ERRORS as exc:
            failure = str(exc) or type(exc).__name__
        if failure is not None:
            gc.collect()
    if failure is not None:
        raise ConfigError(f"cannot open X display {name!r}: {failure}")
    missing = [ext for ext in extensions if not display.has_extension(ext)]
    if missing:
        display.close()
        raise ConfigError(f"X display {name!r} lacks the extension(s) {', '.join(missing)}")
    return display


def argb_to_rgba(argb: "np.ndarray[Any, np.dtype[np.uint32]]", w: int, h: int) -> Frame:
    """Convert XFixes cursor longs (ARGB, premultiplied alpha) to straight RGBA (h, w, 4).

    Viewers draw the cursor with straight alpha (RFC 6143 7.8.1 sends a
    colour and a bitmask), so translucent edges are divided back out here.
    """
    bgra = argb.astype("<u4").view(np.uint8).reshape(h, w, 4)
    rgba = bgra[..., [2, 1, 0, 3]].astype(np.uint16)
    alpha = rgba[..., 3:4]
    partial = (alpha > 0) & (alpha < 255)
    straight = np.where(
        partial,
        np.minimum(255, (rgba[..., :3] * 255 + alpha // 2) // np.maximum(alpha, 1)),
        rgba[..., :3],
    )
    out = np.empty((h, w, 4), dtype=np.uint8)
    out[..., :3] = straight
    out[..., 3] = rgba[..., 3]
    return out


class X11Screen:
    """A :class:`~tasuke.desktop.base.ScreenSource` for one X display.

    Not thread-safe: use one instance from one thread at a time.

    ``monitor`` follows mss numbering: 0 is the whole root window, 1.. are the
    individual monitors.
    """

    def __init__(self, display: str, *, monitor: int = 0) -> None:
        """Connect to ``display`` for capture and cursor queries.

        Raises:
            ConfigError: the display cannot be opened, lacks XFIXES, or has no such monitor.
        """
        self._xlib = open_display(display, extensions=("XFIXES",))
        try:
            self._xlib.xfixes_query_version()
            self._root = self._xlib.screen().root
            self._mss = mss.MSS(display=display)
            monitors = self._mss.monitors
        except _BACKEND_ERRORS as exc:
            self._xlib.close()
            raise ConfigError(f"cannot capture X display {display!r}: {exc}") from exc
        self._closed = False
        if not 0 <= monitor < len(monitors):
            self.close()
            raise ConfigError(f"X display {display!r} has no monitor {monitor}")
        self._monitor = dict(monitors[monitor])
        self._cursor: Cursor | None = None
        self._damage: int | None = None
        self._damage_event = -1
        try:
            if self._xlib.has_extension("DAMAGE"):
                self._xlib.damage_query_version()
                self._damage = self._root.damage_create(damage.DamageReportNonEmpty)
                info = self._xlib.query_extension("DAMAGE")
                self._damage_event = info.first_event + damage.DamageNotifyCode
                self._xlib.sync()
        except _BACKEND_ERRORS as exc:
            _log.info("no XDamage hints, every poll captures: %s", exc)
            self._damage = None
        self._damaged = True

    def size(self) -> tuple[int, int]:
        """Return (width, height) of the captured area in pixels."""
        return int(self._monitor["width"]), int(self._monitor["height"])

    def grab(self) -> Frame:
        """Capture the area now as a (height, width, 4) BGRX view of mss's buffer.

        Raises:
            DesktopError: the capture failed (display gone).
        """
        with translated_errors("screen capture"):
            try:
                shot = self._mss.grab(self._monitor)
            except AssertionError as exc:
                # mss 10.2 asserts on a missing XCB reply when the server has gone.
                raise DesktopError(f"X11 screen capture failed: no reply ({exc})") from exc
        return np.frombuffer(shot.raw, dtype=np.uint8).reshape(shot.height, shot.width, 4)

    def damaged(self) -> bool:
        """True if the screen may have changed since the last call (XDamage hint).

        Call it before :meth:`grab`: the damage is reset first, so a change made while the
        picture is captured is reported again next time. Always True without XDamage.

        Raises:
            DesktopError: the display connection failed.
        """
        if self._damage is None:
            return True
        with translated_errors("damage query"):
            while self._xlib.pending_events():
                event = self._xlib.next_event()
                # python-xlib registers a copy of the event class: compare codes, not types.
                if event.type & 0x7F == self._damage_event:
                    self._damaged = True
            if not self._damaged:
                return False
            self._damaged = False
            self._xlib.damage_subtract(self._damage)
            self._xlib.sync()
        return True

    def cursor(self) -> Cursor | None:
        """Return the pointer shape from XFixes GetCursorImage.

        The reply's serial changes with the shape, so an unchanged shape
        returns the same :class:`Cursor` object without converting pixels.

        Raises:
            DesktopError: the request failed (display gone).
        """
        with translated_errors("cursor query"):
            reply = self._xlib.xfixes_get_cursor_image(self._root)
        if self._cursor is not None and self._cursor.serial == reply.cursor_serial:
            return self._cursor
        width, height = int(reply.width), int(reply.height)
        longs = np.asarray(reply.cursor_image, dtype=np.uint32)
        if width == 0 or height == 0 or longs.size < width * height:
            return None
        self._cursor = Cursor(
            pixels=argb_to_rgba(longs[: width * height], width, height),
            hot_x=min(int(reply.xhot), width - 1),
            hot_y=min(int(reply.yhot), height - 1),
            serial=int(reply.cursor_serial),
        )
        return self._cursor

    def close(self) -> None:
        """Release the capture buffers and both display connections (idempotent)."""
        if getattr(self, "_closed", True):
            return
        self._closed = True
        for closer in (self._mss.close, self._xlib.close):
            try:
                closer()
            except _BACKEND_ERRORS as exc:
                _log.debug("closing X11 screen: %s", exc)
