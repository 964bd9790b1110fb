"""The X11 screen source: mss for pixels, XFixes for the pointer shape.

Monitors plugged in or removed, and root size changes, arrive as events (a root
ConfigureNotify and RandR notifications); the monitor list is then read again, so
that the screen engine's next capture is whole and tells viewers the new layout.

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
from Xlib import X
from Xlib.ext import damage, randr, xfixes

from tasuke.desktop.base import Cursor, Frame
from tasuke.errors import ConfigError, DesktopError

__all__ = ["X11Screen", "argb_to_rgba", "open_display", "translated_errors"]

_log = logging.getLogger(__name__)
_MAX_DAMAGE_RECTS = 256
"""More damage events than this in one poll: report "everything" instead of a list."""

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
# mss 10.2 asserts on a missing XCB reply when the server has gone.
_CAPTURE_ERRORS: tuple[type[BaseException], ...] = (*_BACKEND_ERRORS, AssertionError)
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


def _box(monitor: Any) -> tuple[int, int, int, int]:
    return (
        int(monitor["left"]),
        int(monitor["top"]),
        int(monitor["width"]),
        int(monitor["height"]),
    )


def _same_monitor(old: Any, listed: Any) -> int:
    """Where monitor ``old`` is in the new mss list ``listed`` (1..), or 0 when it is gone.

    The same place and size first; otherwise the same RandR output (a mode change resizes
    a monitor without making it another one). mss lists no RandR monitor names.
    """
    for index, monitor in enumerate(listed[1:], 1):
        if _box(monitor) == _box(old):
            return index
    output = old.get("output")
    if output is not None:
        for index, monitor in enumerate(listed[1:], 1):
            if monitor.get("output") == output:
                return index
    return 0


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
            if not self._mss.monitors:  # asked here, where its failures are translated
                raise mss.exception.ScreenShotError("the display lists no screen")
        except _BACKEND_ERRORS as exc:
            self._xlib.close()
            raise ConfigError(f"cannot capture X display {display!r}: {exc}") from exc
        self._closed = False
        self._name = display
        self._index = 0
        self._monitor: dict[str, int] = {}
        self._rects: list[tuple[int, int, int, int]] | None = None  # None: everything
        self._damaged = True
        try:
            self.select_monitor(monitor)
        except ConfigError:
            self.close()
            raise
        self._cursor: Cursor | None = None
        self._cursor_event = -1
        self._cursor_news = True
        try:
            # Shape changes arrive as events, so an unchanged pointer costs no round trip.
            self._xlib.xfixes_select_cursor_input(self._root, xfixes.XFixesDisplayCursorNotifyMask)
            info = self._xlib.query_extension("XFIXES")
            self._cursor_event = info.first_event + xfixes.XFixesCursorNotify
        except _BACKEND_ERRORS as exc:
            _log.info("no cursor change events, the shape is asked for each time: %s", exc)
        self._damage: int | None = None
        self._damage_event = -1
        try:
            if self._xlib.has_extension("DAMAGE"):
                self._xlib.damage_query_version()
                # Delta rectangles: an event only when the damaged area grows, and the area
                # is reset by DamageSubtract on each poll, so a busy window sends a few
                # events per poll rather than one per drawing request.
                self._damage = self._root.damage_create(damage.DamageReportDeltaRectangles)
                info = self._xlib.query_extension("DAMAGE")
                self._damage_event = info.first_event + damage.DamageNotifyCode
                self._xlib.sync()
        except _BACKEND_ERRORS as exc:
            _log.info("no XDamage hints, every poll captures: %s", exc)
            self._damage = None
        self._layout_events = self._watch_layout()
        self._layout_news = False

    def _watch_layout(self) -> frozenset[int]:
        """Ask for the events that announce a new monitor layout; return their codes."""
        codes: set[int] = set()
        try:
            # RandR 1.5 has no monitor event: SetMonitor and DeleteMonitor, like a root
            # resize, send the root a ConfigureNotify. CRTC and output changes (a mode
            # set, an output switched off) come as RandR events.
            self._root.change_attributes(event_mask=X.StructureNotifyMask)
            codes.add(X.ConfigureNotify)
            if self._xlib.has_extension("RANDR"):
                self._root.xrandr_select_input(
                    randr.RRScreenChangeNotifyMask
                    | randr.RRCrtcChangeNotifyMask
                    | randr.RROutputChangeNotifyMask
                )
                first = self._xlib.query_extension("RANDR").first_event
                codes |= {first + randr.RRScreenChangeNotify, first + randr.RRNotify}
            self._xlib.sync()
        except _BACKEND_ERRORS as exc:
            _log.info("no layout events, monitors added later are not seen: %s", exc)
        return frozenset(codes)

    def monitors(self) -> list[tuple[int, int, int, int]]:
        """Every monitor (RandR 1.5 monitors, as mss lists them) in desktop coordinates.

        The list is read again after a layout change, at the next :meth:`grab` or
        :meth:`damaged_regions`.
        """
        return [_box(m) for m in self._mss.monitors[1:]]

    def captured_area(self) -> tuple[int, int, int, int]:
        """The captured area (a monitor, or the whole root window) in desktop coordinates."""
        return _box(self._monitor)

    def select_monitor(self, index: int) -> None:
        """Capture monitor ``index`` (1..) from now on, or with 0 the whole root window.

        When the layout changes, the same monitor is followed (found again by place and
        size, or by output); when it is gone, the whole root window is captured.

        Raises:
            ConfigError: the display has no such monitor.
        """
        monitors = self._mss.monitors
        if not 0 <= index < len(monitors):
            raise ConfigError(
                f"X display {self._name!r} has no monitor {index} "
                f"(it has {len(monitors) - 1}; 0 means all of them)"
            )
        self._show(index)

    def selected_monitor(self) -> int:
        """The monitor captured (1..), or 0 for the whole desktop, after any layout change."""
        return self._index

    def _show(self, index: int) -> None:
        monitors = self._mss.monitors
        self._index = index
        self._monitor = {k: int(monitors[index][k]) for k in ("left", "top", "width", "height")}
        # Damage seen so far was relative to the old area: the next capture is whole.
        self._rects = None
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
            self._read_events()
            self._follow_layout()
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
        rects = self.damaged_regions()
        return rects is None or bool(rects)

    def damaged_regions(self) -> list[tuple[int, int, int, int]] | None:
        """Rectangles (x, y, width, height) of the captured area drawn since the last call;
        None when unknown (no XDamage, the first call, or too many to be worth listing).

        Like :meth:`damaged`, call it before grabbing: the damage is reset first.

        Raises:
            DesktopError: the display connection failed.
        """
        with translated_errors("damage query"):
            self._read_events()
            self._follow_layout()
            if self._damage is None:
                return None
            if not self._damaged:
                return []
            rects, self._rects, self._damaged = self._rects, [], False
            self._xlib.damage_subtract(self._damage)
            self._xlib.sync()
        return rects

    def fileno(self) -> int:
        """The X connection's socket, readable when damage, cursor or layout events arrive;
        -1 without XDamage (then every poll captures anyway)."""
        return int(self._xlib.fileno()) if self._damage is not None else -1

    def events_queued(self) -> bool:
        """True if events were read off the socket (e.g. while waiting for a reply) and not
        handled yet, or a layout change was read and the next capture has not seen it.

        Raises:
            DesktopError: the display connection failed.
        """
        with translated_errors("event query"):
            return self._layout_news or bool(self._xlib.pending_events())

    def _read_events(self) -> None:
        while self._xlib.pending_events():
            event = self._xlib.next_event()
            # python-xlib registers a copy of the event class: compare codes, not types.
            code = event.type & 0x7F
            if code == self._damage_event:
                self._note_damage(event.area)
            elif code == self._cursor_event:
                self._cursor_news = True
            elif code in self._layout_events:
                self._layout_news = True

    def _follow_layout(self) -> None:
        """Read the monitors again after a layout event; keep showing the same monitor, or
        all of them when it is gone. A new layout makes the next capture whole."""
        if not self._layout_news:
            return
        old = self._mss.monitors
        # mss caches its monitor list, and sizes its shared-memory buffer for the root
        # window it first saw: its documented answer to a new layout is a new instance.
        fresh: Any = None
        try:
            fresh = mss.MSS(display=self._name)
            listed = fresh.monitors
            if not listed:
                raise mss.exception.ScreenShotError("the display lists no screen")
        except _CAPTURE_ERRORS as exc:
            # mss gives up when the configuration changes while it reads it (a mode set
            # comes in several steps): keep the old layout and try again next capture. A
            # display that is gone fails the capture itself.
            _log.debug("monitors not read again yet: %s", exc)
            if fresh is not None:
                fresh.close()
            return
        self._layout_news = False
        self._mss.close()
        self._mss = fresh
        if [_box(m) for m in listed] == [_box(m) for m in old]:
            return
        index = _same_monitor(old[self._index], listed) if self._index else 0
        if index == 0 and self._index:
            _log.info("monitor %d is gone, all monitors are captured", self._index)
        self._show(index)  # which also makes the next capture whole

    def _note_damage(self, area: Any) -> None:
        self._damaged = True
        if self._rects is None:
            return
        if len(self._rects) >= _MAX_DAMAGE_RECTS:
            self._rects = None  # a busy screen: one whole capture is cheaper
            return
        left, top = int(self._monitor["left"]), int(self._monitor["top"])
        width, height = self.size()
        x0, y0 = max(0, int(area.x) - left), max(0, int(area.y) - top)
        x1 = min(width, int(area.x) + int(area.width) - left)
        y1 = min(height, int(area.y) + int(area.height) - top)
        if x1 > x0 and y1 > y0:
            self._rects.append((x0, y0, x1 - x0, y1 - y0))

    def grab_region(self, x: int, y: int, width: int, height: int) -> Frame:
        """Capture one rectangle of the area (coordinates relative to it) as B, G, R, X.

        An empty picture when the layout changed since :meth:`damaged_regions` and the
        rectangle is no longer on the desktop (then capture whole).

        Raises:
            DesktopError: the capture failed (display gone).
        """
        box = {
            "left": int(self._monitor["left"]) + x,
            "top": int(self._monitor["top"]) + y,
            "width": width,
            "height": height,
        }
        with translated_errors("screen capture"):
            try:
                shot = self._mss.grab(box)
            except _CAPTURE_ERRORS as exc:
                self._read_events()
                if self._layout_news:
                    # The desktop shrank since the damage was asked for, and the box is off
                    # it: a picture of the wrong size makes the caller capture whole.
                    return np.empty((0, 0, 4), dtype=np.uint8)
                raise DesktopError(f"X11 screen capture failed: {exc or 'no reply'}") from exc
        return np.frombuffer(shot.raw, dtype=np.uint8).reshape(shot.height, shot.width, 4)

    def cursor(self) -> Cursor | None:
        """Return the pointer shape from XFixes GetCursorImage.

        The reply's serial changes with the shape, so an unchanged shape
        returns the same :class:`Cursor` object without converting pixels; and XFixes
        cursor-change events tell when to ask at all, so an unchanged shape costs no round trip.

        Raises:
            DesktopError: the request failed (display gone).
        """
        with translated_errors("cursor query"):
            if self._cursor_event >= 0 and self._cursor is not None:
                self._read_events()
                if not self._cursor_news:
                    return self._cursor
            self._cursor_news = False
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
