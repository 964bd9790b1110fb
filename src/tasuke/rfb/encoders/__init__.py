"""RFB encodings: Raw, Tight (fill, palette, zlib, JPEG), ZRLE and the Cursor pseudo-encoding."""

from tasuke.rfb.encoders.cursor import encode_cursor
from tasuke.rfb.encoders.raw import encode_raw
from tasuke.rfb.encoders.tight import TightEncoder
from tasuke.rfb.encoders.zrle import ZRLEEncoder

__all__ = ["TightEncoder", "ZRLEEncoder", "encode_cursor", "encode_raw"]
