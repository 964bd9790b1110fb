"""Fixtures for the server unit tests: the app in-process over ASGI with a fake clock."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tasuke.server.app import create_app, prepare
from tasuke.server.settings import Settings
from tasuke.server.state import ServerState
from tests.support.server import ADMIN_PASSWORD, FakeClock, csrf_from

BASE = "http://testserver"


@dataclass
class AppUnderTest:
    app: FastAPI
    clock: FakeClock
    settings: Settings
    first_password: str
    client: httpx.AsyncClient

    @property
    def state(self) -> ServerState:
        state: ServerState = self.app.state.tasuke
        return state

    def new_client(self, address: str = "203.0.113.9") -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=(address, 4000)),
            base_url=BASE,
        )

    async def login(
        self, client: httpx.AsyncClient, username: str = "admin", password: str = ADMIN_PASSWORD
    ) -> httpx.Response:
        page = await client.get("/login")
        return await client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": csrf_from(page.text)},
        )

    async def signed_in(self, client: httpx.AsyncClient) -> str:
        """Sign in as admin (with the chosen password) and return the CSRF token."""
        response = await self.login(client)
        assert response.status_code == 303, response.text
        return csrf_from((await client.get("/")).text)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def server(tmp_path: Path, clock: FakeClock) -> AsyncIterator[AppUnderTest]:
    settings = Settings(data_dir=tmp_path / "data", public_url=BASE)
    first = await prepare(settings, clock=clock)
    assert first is not None
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        under_test = AppUnderTest(app, clock, settings, first, httpx.AsyncClient())
        async with under_test.new_client() as client:
            under_test.client = client
            yield under_test


@pytest.fixture
async def admin(server: AppUnderTest) -> AppUnderTest:
    """The server with the admin's own password already set (one-time password replaced)."""
    async with server.new_client() as client:
        response = await server.login(client, password=server.first_password)
        assert response.headers["location"] == "/password"
        csrf = csrf_from((await client.get("/password")).text)
        done = await client.post(
            "/password",
            data={"password": ADMIN_PASSWORD, "password2": ADMIN_PASSWORD, "csrf_token": csrf},
        )
        assert done.status_code == 303, done.text
    return server
