"""open_backend: the one place that picks the desktop backend."""

import pytest

from tasuke.desktop import open_backend
from tasuke.errors import ConfigError

pytestmark = pytest.mark.x11


def test_no_display_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match="set DISPLAY or pass --display"):
        open_backend(None, environ={})


def test_unreachable_display_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=":4243"):
        open_backend(":4243", environ={})


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_x11_backend_from_argument_or_environment(desktop: str, how: str) -> None:
    if how == "argument":
        screen, sink = open_backend(desktop, environ={})
    else:
        screen, sink = open_backend(environ={"DISPLAY": desktop})
    try:
        assert screen.size() == (1024, 768)
        assert screen.grab().shape == (768, 1024, 4)
        sink.pointer(5, 5, 0)
    finally:
        sink.close()
        screen.close()
