"""Fixtures of the agent's unit tests."""

from collections.abc import AsyncIterator

import pytest

from tests.unit.agent.fakes import FakeServer


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    """A fake server on a free loopback port; the test plays server and console."""
    async with FakeServer().running() as s:
        yield s
