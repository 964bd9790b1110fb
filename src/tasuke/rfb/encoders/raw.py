"""Raw encoding (RFC 6143 section 7.7.1): every pixel in the client's pixel format."""

from tasuke.desktop.base import Frame
from tasuke.rfb.pixelformat import PixelFormat

__all__ = ["encode_raw"]


def encode_raw(pixels: Frame, pixel_format: PixelFormat) -> bytes:
    """Return the Raw payload of one rectangle of B, G, R, X ``pixels``."""
    return pixel_format.convert(pixels).tobytes()
