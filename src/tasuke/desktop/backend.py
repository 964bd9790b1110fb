"""The one place that chooses the desktop backend for this machine."""

import os
from collections.abc import Mapping

from tasuke.desktop.base import InputSink, ScreenSource
from tasuke.errors import ConfigError

__all__ = ["open_backend"]


def open_backend(
    display: str | None = None, *, environ: Mapping[str, str] | None = None, monitor: int = 0
) -> tuple[ScreenSource, InputSink]:
    """Open the screen source and input sink for ``display`` (or ``$DISPLAY``).

    ``monitor`` 0 captures the whole desktop, 1.. one monitor (in the order the source's
    ``monitors()`` lists them).

    Only X11 exists so far; Windows and macOS backends will be chosen here too.
    ``environ`` defaults to ``os.environ`` and is a parameter so tests can pass
    their own.

    Raises:
        ConfigError: no display was given or found, it cannot be opened, or it has no
            such monitor.
    """
    env = os.environ if environ is None else environ
    name = display or env.get("DISPLAY")
    if not name:
        raise ConfigError(
            "no desktop to share: set DISPLAY or pass --display :N "
            "(only X11 desktops are supported so far)"
        )
    # Imported here so that machines without X libraries can still import tasuke.desktop.
    from tasuke.desktop.x11 import X11Screen
    from tasuke.desktop.x11_input import X11Input

    screen = X11Screen(name, monitor=monitor)
    try:
        sink = X11Input(name)
    except BaseException:
        screen.close()
        raise
    return screen, sink
