"""The two seams between Tasuke and an operating system.

A backend (X11 now; Windows and macOS later) provides a :class:`ScreenSource`
and an :class:`InputSink`. Only :func:`tasuke.desktop.open_backend` chooses one.
Everything above this seam (the RFB engine, the agent) is OS-independent.
"""

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = [
    "ChangeEvents",
    "Cursor",
    "DamagedRegions",
    "Frame",
    "InputSink",
    "Monitors",
    "ScreenSource",
]

Frame = npt.NDArray[np.uint8]
"""A screen picture: shape (height, width, 4), dtype uint8, byte order B, G, R, X."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """The pointer's shape: RGBA pixels (height, width, 4) and the hot spot."""

    pixels: Frame
    hot_x: int
    hot_y: int
    serial: int
    """Changes whenever the shape changes, so unchanged shapes are not resent."""


class ScreenSource(Protocol):
    """Where screen pictures come from."""

    def size(self) -> tuple[int, int]:
        """Return (width, height) of the captured area in pixels."""
        ...

    def grab(self) -> Frame:
        """Capture the whole area now.

        The returned array may share memory with the backend and is valid only
        until the next call to ``grab``; copy what must outlive it.
        """
        ...

    def cursor(self) -> Cursor | None:
        """Return the current pointer shape, or None when the backend cannot tell."""
        ...

    def close(self) -> None:
        """Release the display connection and buffers."""
        ...


@runtime_checkable
class DamagedRegions(Protocol):
    """Optional for a :class:`ScreenSource`: where the screen was drawn, and partial grabs.

    A source that has both methods lets the screen engine capture and compare only what
    changed (a typed letter, a clock), instead of the whole screen on every change.
    """

    def damaged_regions(self) -> list[tuple[int, int, int, int]] | None:
        """Rectangles (x, y, width, height) drawn since the previous call, possibly
        overlapping; [] if nothing was drawn; None if the source cannot tell this time
        (then everything must be treated as changed). Call it before grabbing.
        """
        ...

    def grab_region(self, x: int, y: int, width: int, height: int) -> Frame:
        """Capture one rectangle of the area now, as (height, width, 4) B, G, R, X.

        The result may share memory with the backend until the next grab; copy it.
        """
        ...


@runtime_checkable
class ChangeEvents(Protocol):
    """Optional for a :class:`ScreenSource`: a file descriptor that becomes readable when the
    screen may have changed (X11: damage and cursor-change events), so that an idle screen
    costs no polling. The engine only waits on it; the source reads it."""

    def fileno(self) -> int:
        """The descriptor to wait on, or -1 when the source has no change events."""
        ...

    def events_queued(self) -> bool:
        """True if change events were already read from the descriptor but not yet handled
        (it will not become readable for them again). Call it from the capturing thread."""
        ...


@runtime_checkable
class Monitors(Protocol):
    """Optional for a :class:`ScreenSource`: the desktop's monitors, and which one to capture.

    Monitors are numbered from 1 in the order :meth:`monitors` lists them; 0 means the whole
    desktop (every monitor).
    """

    def monitors(self) -> list[tuple[int, int, int, int]]:
        """Every monitor as (x, y, width, height) in desktop coordinates."""
        ...

    def captured_area(self) -> tuple[int, int, int, int]:
        """The area being captured, (x, y, width, height) in desktop coordinates."""
        ...

    def select_monitor(self, index: int) -> None:
        """Capture monitor ``index`` from now on (0: the whole desktop).

        Raises:
            ConfigError: there is no such monitor.
        """
        ...


class InputSink(Protocol):
    """Where remote keyboard and pointer input is injected."""

    def key(self, keysym: int, down: bool) -> None:
        """Press (down=True) or release the key for an X11 keysym (RFC 6143 7.5.4)."""
        ...

    def pointer(self, x: int, y: int, buttons: int) -> None:
        """Move the pointer to (x, y) with the RFB button mask.

        Bit 0 = left ... bit 4 = wheel down (RFC 6143 7.5.5).
        """
        ...

    def close(self) -> None:
        """Release any keys still held and the display connection."""
        ...
