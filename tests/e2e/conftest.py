"""Fixtures of the browser tests: a real server, an Xvfb display, headless Chromium.

Everything here is real: `tasuke server` and `tasuke join` run as subprocesses, the
customer's screen is an Xvfb display showing the X test window, and the operator is
headless Chromium driven by Playwright.
"""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from tests.support.server import RunningServer, running_server
from tests.support.testwindow import TestWindow, running_testwindow
from tests.support.xvfb import xvfb

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Small enough to keep Raw updates cheap on two shared cores, big enough for the pattern.
SCREEN = (800, 600)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real `tasuke server` for the tests of a module."""
    with running_server(tmp_path_factory.mktemp("server")) as running:
        yield running


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """The customer's X display."""
    with xvfb(*SCREEN) as name:
        yield name


@pytest.fixture
def test_window(display: str, tmp_path: Path) -> Iterator[TestWindow]:
    """The X test window covering the customer's screen, logging keys and clicks."""
    with running_testwindow(display, tmp_path / "window.jsonl") as window:
        yield window


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver."""
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless Chromium (the system's)."""
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def page(browser: Browser, server: RunningServer) -> Iterator[Page]:
    """A signed-in operator's console page, failing the test on any page error."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    # Chromium's own favicon request 404s; real resources are checked by status below.
    p.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    p.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    sign_in(p, server)
    yield p
    context.close()
    assert not errors, f"errors in the console page: {errors}"


def sign_in(page: Page, server: RunningServer) -> None:
    """Sign in as admin; set a new password if the server asks for one."""
    page.goto("/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", server.admin_password)
    page.get_by_role("button", name=re.compile("Sign in")).click()
    page.wait_for_url(re.compile(r"/(password)?$"))
    if page.url.endswith("/password"):
        page.fill("input[name=password]", server.admin_password)
        page.fill("input[name=password2]", server.admin_password)
        page.locator("form button[type=submit]").first.click()
        page.wait_for_url(re.compile(r"/$"))
