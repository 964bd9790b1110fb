"""Operating-system seams: where the screen comes from and where input goes."""

from tasuke.desktop.backend import open_backend
from tasuke.desktop.base import Cursor, InputSink, ScreenSource

__all__ = ["Cursor", "InputSink", "ScreenSource", "open_backend"]
