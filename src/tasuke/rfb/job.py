"""What one FramebufferUpdate is to contain, and small helpers of the update path."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tasuke.desktop.base import Frame
from tasuke.rfb.pixelformat import PixelFormat
from tasuke.rfb.plan import Kind, Region
from tasuke.rfb.tiles import ClientView, Rect, spans

__all__ = ["UpdateJob", "fit", "raw_regions"]

_NO_COLOURS = np.zeros(0, dtype=np.uint32)


@dataclass(frozen=True, slots=True)
class UpdateJob:
    """What one FramebufferUpdate is to contain, fixed when the update starts."""

    region: Rect
    full: Rect | None
    encoding: int
    jpeg: int | None
    pixel_format: PixelFormat
    cursor: bool
    desktop_size: bool
    requested: Rect | None
    """The part that answers a FramebufferUpdateRequest (the rest is continuous)."""
    copyrect: bool
    h264: bool = False
    """The viewer decodes H.264 rectangles (encoding 50): video mode may be used."""
    extended_desktop_size: bool = False
    """The viewer takes ExtendedDesktopSize (-308): screen layouts, one screen per monitor."""
    video_rate: float | None = None
    """Bytes per second an H.264 stream may use on this link (None: no cap)."""


def raw_regions(view: ClientView, dirty: npt.NDArray[np.bool_], region: Rect) -> list[Region]:
    out = []
    for row, first, last in spans(dirty, view.width, view.height):
        rect = view.span_rect(row, first, last).intersect(region)
        if rect is not None:
            out.append(Region(rect, Kind.PHOTO, _NO_COLOURS))
    return out


def fit(frame: Frame, width: int, height: int) -> Frame:
    """Crop or pad (black) a frame to the size a client without DesktopSize still expects."""
    out = np.zeros((height, width, 4), dtype=np.uint8)
    h, w = min(height, frame.shape[0]), min(width, frame.shape[1])
    out[:h, :w] = frame[:h, :w]
    return out
