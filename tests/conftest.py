"""Fixtures shared by every test layer."""

from collections.abc import Iterator

import pytest

from tests.support.xvfb import xvfb


@pytest.fixture(scope="session")
def x_display() -> Iterator[str]:
    """A real Xvfb display (1024x768x24) shared by the tests of one run."""
    with xvfb() as display:
        yield display
