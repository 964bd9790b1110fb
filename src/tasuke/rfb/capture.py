"""What to capture for one update: the whole screen, only what was drawn, or nothing.

Sources that report damage rectangles and grab regions (:class:`DamagedRegions`, X11 with
XDamage) are captured region by region into a screen-sized canvas that this module keeps, and
the core compares only the damaged tiles: a typed letter or a clock costs a tile, not a
1080p grab and compare. Sources with only a yes/no hint (:class:`DamageHint`) skip captures
while nothing was drawn. Others are captured whole on every poll.
"""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from tasuke import limits
from tasuke.desktop.base import Cursor, DamagedRegions, Frame, Monitors, ScreenSource
from tasuke.errors import ConfigError
from tasuke.rfb.layout import screens_of
from tasuke.rfb.tiles import Rect, mask_rects, tile_mask

__all__ = ["Capture", "DamageHint", "MonitorChoice", "Shot"]

_log = logging.getLogger(__name__)

_MAX_REGION_GRABS = 8
"""More separate damaged areas than this are grabbed as their bounding box."""
_WHOLE_SHARE = 0.5
"""A damaged box over this share of the screen is grabbed whole (one request is cheaper)."""


@runtime_checkable
class DamageHint(Protocol):
    """Optional for a ScreenSource: tells whether anything was drawn since the last call."""

    def damaged(self) -> bool:
        """False only if the screen is certainly unchanged since the previous call."""
        ...


@dataclass(frozen=True, slots=True)
class Shot:
    """A captured screen for the encoder.

    ``damage`` is a (rows, cols) tile mask outside which ``frame`` equals the previous shot's
    frame, or None when anything may have changed.
    """

    frame: Frame
    cursor: Cursor | None
    damage: npt.NDArray[np.bool_] | None
    clean: bool = False
    """Every padding byte (the X of B, G, R, X) of ``frame`` is zero."""


_COLOUR = np.uint32(0x00FFFFFF)


def _paste(canvas: Frame, part: Frame) -> None:
    """Copy ``part`` into ``canvas`` with the padding bytes cleared: the canvas's 32-bit words
    are then the encoder's colour keys, with no pass of their own."""
    np.bitwise_and(part.view(np.uint32), _COLOUR, out=canvas.view(np.uint32))


class MonitorChoice:
    """Which monitor one RFB connection shows: 0 all of them, 1.. one.

    The agent passes one to ``serve_rfb(..., monitor=choice)`` and calls :meth:`select` when
    the console asks for another monitor (from any thread); the screen worker applies it
    before its next capture, and the viewer gets the new size (ExtendedDesktopSize or
    DesktopSize). :attr:`monitors` lists the desktop's monitors as the engine last saw them
    ((x, y, width, height) each, monitor i is item i - 1), for the console's selector.
    When monitors are plugged in or removed, the source's next capture is whole and both
    :attr:`monitors` and :attr:`selected` follow: the monitor shown keeps being shown under
    its new number, and ``selected`` becomes 0 (all) when it is gone.
    """

    def __init__(self, index: int = 0, on_change: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._wanted: int | None = index
        self.selected = 0
        self.monitors: list[tuple[int, int, int, int]] = []
        self.error: str | None = None
        """Why the last selection was refused (no such monitor), else None."""
        self.on_change = on_change
        """Called on the screen worker, after the fields are set, when a selection was
        applied or refused and when :attr:`monitors` or :attr:`selected` changed with the
        layout: the agent then tells the console. It must be quick and thread-safe."""

    def changed(self) -> None:
        """Call :attr:`on_change`, if any (for the screen worker, after it set the fields)."""
        if self.on_change is not None:
            self.on_change()

    def select(self, index: int) -> None:
        """Show monitor ``index`` (0: all) from the next capture on."""
        with self._lock:
            self._wanted = index

    def take(self) -> int | None:
        """The selection made since the last call, or None (for the screen worker)."""
        with self._lock:
            wanted, self._wanted = self._wanted, None
        return wanted


class Capture:
    """Per-connection capture state. Runs on the screen worker thread only."""

    def __init__(
        self,
        source: ScreenSource,
        clock: Callable[[], float],
        choice: MonitorChoice | None = None,
    ) -> None:
        self.source = source
        self.clock = clock
        self.choice = choice
        self._monitors = source if isinstance(source, Monitors) else None
        # Checked once: isinstance against a runtime-checkable Protocol is slow.
        self._regions_source = source if isinstance(source, DamagedRegions) else None
        self._hint = source if isinstance(source, DamageHint) else None
        self.frame: Frame | None = None
        """The last capture (our own canvas for region sources, else the source's buffer)."""
        self.clean = False
        """True if the client asked for the whole screen last time, so that every difference
        from the last capture was compared (a partial request leaves some that no damage
        event will repeat)."""
        self.cursor_serial: int | None = None
        self.cursor_asked = 0.0
        self.grabs = 0
        """Whole-screen grabs so far (for tests and benchmarks)."""
        self.screens: tuple[Rect, ...] = ()
        """The monitors inside the captured area, relative to it (after a whole grab)."""
        self.origin = (0, 0)
        """Where the captured area is on the desktop, for pointer coordinates."""

    def take(self, *, whole: bool, forced: bool, refresh: bool) -> Shot | None:
        """Capture for an update of the whole screen (``whole``) or of part of it.

        ``forced``: a non-incremental request wants pixels even if nothing changed.
        ``refresh``: the client holds JPEG tiles that a still screen will replace, so the
        encoder must run even if nothing was drawn. Returns None when nothing can have
        changed, not even the pointer shape.

        Raises:
            DesktopError: the capture failed.
        """
        self.apply_choice()
        usable = self.frame is not None and whole and self.clean
        self.clean = whole
        # The damage is asked for before every grab, even a whole one: it resets it, so that
        # only what is drawn after this capture is reported next time.
        if self._regions_source is not None:
            rects = self._regions_source.damaged_regions()
            if usable and rects is not None:
                return self._regions(self._regions_source, rects, forced=forced, refresh=refresh)
        elif self._hint is not None:
            drawn = self._hint.damaged()
            if usable and not drawn and not (forced or refresh):
                return self._cursor_only(None)
        return self._whole()

    def apply_choice(self) -> None:
        """Switch to the monitor selected since the last call, if any (worker thread)."""
        choice = self.choice
        if choice is None:
            return
        wanted = choice.take()
        if wanted is None or self._monitors is None:
            return
        try:
            self._monitors.select_monitor(wanted)
        except ConfigError as exc:
            _log.warning("monitor %s not shown: %s", wanted, exc)
            choice.error = str(exc)
            choice.changed()
            return
        choice.selected, choice.error = wanted, None
        choice.changed()
        self.clean = False  # a new area: capture it whole

    def _whole(self) -> Shot:
        source = self.source
        frame, cursor = source.grab(), source.cursor()
        self.grabs += 1
        height, width = frame.shape[:2]
        if self._monitors is not None:
            monitors = self._monitors.monitors()
            x, y, w, h = self._monitors.captured_area()
            self.screens = screens_of(monitors, Rect(x, y, w, h), width, height)
            self.origin = (x, y)
            choice = self.choice
            if choice is not None:
                before = (choice.monitors, choice.selected)
                choice.monitors = monitors
                # The source's own number when it says it (a single monitor is as large as
                # the whole desktop: the box alone cannot tell 1 from 0).
                told = getattr(self._monitors, "selected_monitor", None)
                choice.selected = (
                    int(told()) if told else _shown(monitors, (x, y, w, h), choice.selected)
                )
                if (choice.monitors, choice.selected) != before:
                    choice.changed()
        else:
            self.screens = (Rect(0, 0, width, height),)
        if self._regions_source is not None:
            # Region grabs are pasted into a canvas of our own; the source's buffer is reused.
            if self.frame is None or self.frame.shape != frame.shape:
                self.frame = np.empty_like(frame)
            _paste(self.frame, frame)
        else:
            self.frame = frame
        self.cursor_serial = None if cursor is None else cursor.serial
        return Shot(self.frame, cursor, None, clean=self._regions_source is not None)

    def _regions(
        self,
        source: DamagedRegions,
        found: list[tuple[int, int, int, int]],
        *,
        forced: bool,
        refresh: bool,
    ) -> Shot | None:
        canvas = self.frame
        assert canvas is not None
        height, width = canvas.shape[:2]
        mask = tile_mask([Rect(*r) for r in found], width, height)
        if not mask.any():
            return self._cursor_only(mask) if not (forced or refresh) else self._still(mask)
        boxes = mask_rects(mask, width, height)
        if len(boxes) > _MAX_REGION_GRABS:
            box = boxes[0]
            for other in boxes[1:]:
                box = box.union(other)
            boxes = [box]
        if sum(b.width * b.height for b in boxes) > _WHOLE_SHARE * width * height:
            return self._whole()
        for b in boxes:
            part = source.grab_region(b.x, b.y, b.width, b.height)
            if part.shape[:2] != (b.height, b.width):
                return self._whole()  # the screen changed size under us
            _paste(canvas[b.y : b.y + b.height, b.x : b.x + b.width], part)
        return self._still(mask)

    def _still(self, mask: npt.NDArray[np.bool_]) -> Shot:
        assert self.frame is not None
        cursor = self.source.cursor()
        self.cursor_serial = None if cursor is None else cursor.serial
        return Shot(self.frame, cursor, mask, clean=self._regions_source is not None)

    def _cursor_only(self, mask: npt.NDArray[np.bool_] | None) -> Shot | None:
        # Nothing was drawn since the last capture, which the client already has whole: only
        # the pointer shape can be news, and asking for it is an X round trip.
        now = self.clock()
        if now - self.cursor_asked < limits.RFB_CURSOR_POLL_INTERVAL:
            return None
        self.cursor_asked = now
        cursor = self.source.cursor()
        if cursor is None or cursor.serial == self.cursor_serial:
            return None
        self.cursor_serial = cursor.serial
        assert self.frame is not None
        return Shot(self.frame, cursor, mask, clean=self._regions_source is not None)


def _shown(
    monitors: list[tuple[int, int, int, int]], area: tuple[int, int, int, int], selected: int
) -> int:
    """Which monitor the captured ``area`` is (1..), after the layout may have changed: the
    source follows a monitor that moved in the list, and shows all when it is gone (0)."""
    boxes = [tuple(m) for m in monitors]
    if selected == 0 or (selected <= len(boxes) and boxes[selected - 1] == area):
        return selected
    return boxes.index(area) + 1 if area in boxes else 0
