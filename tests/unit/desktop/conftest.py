"""Fixtures for the desktop backend tests: a private Xvfb with the test window on it."""

from collections.abc import Iterator

import pytest

from tasuke.desktop.x11 import X11Screen
from tasuke.desktop.x11_input import X11Input
from tests.support.testwindow import TestWindow, running_testwindow
from tests.support.xvfb import xvfb


@pytest.fixture(scope="module")
def desktop() -> Iterator[str]:
    """A display of our own: these tests map a full-screen window and rebind keys."""
    with xvfb(1024, 768) as display:
        yield display


@pytest.fixture(scope="module")
def window(desktop: str) -> Iterator[TestWindow]:
    """The test window, covering the screen and holding the keyboard focus."""
    with running_testwindow(desktop) as win:
        yield win


@pytest.fixture
def screen(desktop: str) -> Iterator[X11Screen]:
    source = X11Screen(desktop)
    yield source
    source.close()


@pytest.fixture
def sink(desktop: str) -> Iterator[X11Input]:
    injector = X11Input(desktop)
    yield injector
    injector.close()
