"""RFB encodings: Raw, Tight (fill, palette, zlib, JPEG) and the Cursor pseudo-encoding."""

from tasuke.rfb.encoders.cursor import encode_cursor
from tasuke.rfb.encoders.raw import encode_raw
from tasuke.rfb.encoders.tight import TightEncoder

__all__ = ["TightEncoder", "encode_cursor", "encode_raw"]
