"""Cursor pseudo-encoding (RFC 6143 section 7.8.1): the pointer shape drawn by the viewer."""

import numpy as np

from tasuke.desktop.base import Cursor
from tasuke.rfb.pixelformat import PixelFormat

__all__ = ["ALPHA_VISIBLE", "encode_cursor"]

ALPHA_VISIBLE = 128
"""Cursor pixels at least this opaque are drawn; RFB cursors have a 1-bit mask, no alpha."""


def encode_cursor(cursor: Cursor, pixel_format: PixelFormat) -> bytes:
    """Return the Cursor payload: pixels in the client's format, then the row-padded bitmask.

    The rectangle header carries the hot spot as x, y and the shape's size.
    """
    rgba = cursor.pixels
    bgrx = np.ascontiguousarray(rgba[..., [2, 1, 0, 3]])
    mask = np.packbits(rgba[..., 3] >= ALPHA_VISIBLE, axis=1, bitorder="big")
    return pixel_format.convert(bgrx).tobytes() + mask.tobytes()
