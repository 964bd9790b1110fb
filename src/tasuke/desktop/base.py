"""The two seams between Tasuke and an operating system.

A backend (X11 now; Windows and macOS later) provides a :class:`ScreenSource`
and an :class:`InputSink`. Only :func:`tasuke.desktop.open_backend` chooses one.
Everything above this seam (the RFB engine, the agent) is OS-independent.
"""

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["Cursor", "Frame", "InputSink", "ScreenSource"]

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
