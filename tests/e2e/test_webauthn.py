"""Security keys in a real browser: register one and sign in with it, in headless Chromium with
a virtual authenticator (Chrome DevTools Protocol ``WebAuthn`` domain) against the real
``tasuke server``.

The server's public URL is ``http://localhost:PORT``: ``localhost`` is a secure context over
plain HTTP, and Chromium refuses an IP address as a relying party id, so the RP id is the
host name ``localhost``.
"""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, expect
from tests.support.server import RunningServer, running_server

pytestmark = pytest.mark.browser

TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def localhost_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real server whose public URL names ``localhost``."""
    with running_server(tmp_path_factory.mktemp("webauthn"), public_host="localhost") as server:
        yield server


class Console:
    """A browser context with a virtual security key attached."""

    def __init__(self, browser: Browser, server: RunningServer) -> None:
        self.context: BrowserContext = browser.new_context(base_url=server.url)
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.set_default_timeout(TIMEOUT_MS)
        self.cdp: CDPSession = self.context.new_cdp_session(self.page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        added: dict[str, Any] = self.cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "usb",
                    "hasResidentKey": False,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )
        self.authenticator = added["authenticatorId"]

    def credentials(self) -> list[dict[str, Any]]:
        """What the virtual key holds."""
        result: dict[str, Any] = self.cdp.send(
            "WebAuthn.getCredentials", {"authenticatorId": self.authenticator}
        )
        return list(result["credentials"])

    def password_step(self, server: RunningServer) -> None:
        """Type the user name and password on the sign-in page."""
        self.page.goto("/login")
        self.page.fill("input[name=username]", "admin")
        self.page.fill("input[name=password]", server.admin_password)
        self.page.get_by_role("button", name=re.compile("Sign in")).click()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def console(browser: Browser, localhost_server: RunningServer) -> Iterator[Console]:
    """A fresh browser context with its own virtual authenticator."""
    opened = Console(browser, localhost_server)
    yield opened
    opened.close()
    assert not opened.errors, opened.errors


def test_register_a_security_key_and_sign_in_with_it(
    console: Console, localhost_server: RunningServer
) -> None:
    page = console.page
    console.password_step(localhost_server)
    page.wait_for_url(re.compile(r"/$"))
    page.goto("/account/security")
    page.fill("#webauthn-label", "Virtual key")
    page.click("#webauthn-register")
    expect(page.locator("#security-keys")).to_contain_text("Virtual key")
    assert len(console.credentials()) == 1

    page.click("#sign-out")
    page.wait_for_url(re.compile(r"/login$"))
    console.password_step(localhost_server)
    page.wait_for_url(re.compile(r"/login/second-factor"))
    # Half signed in: the dashboard is out of reach until the key has signed.
    page.goto("/")
    page.wait_for_url(re.compile(r"/login/second-factor"))
    # An answer that is not the key's signature does not sign in.
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    forged = page.request.post(
        "/login/webauthn/verify",
        headers={"X-CSRF-Token": csrf or "", "Content-Type": "application/json"},
        data='{"credential": {"id": "AAAA", "rawId": "AAAA", "type": "public-key"}}',
    )
    assert forged.status == 401
    page.goto("/")
    page.wait_for_url(re.compile(r"/login/second-factor"))
    page.check("#webauthn-remember")
    page.click("#webauthn-sign-in")
    page.wait_for_url(re.compile(r"/$"))
    expect(page.locator("#new-session")).to_be_visible()
    assert console.credentials()[0]["signCount"] >= 1

    # The browser is now trusted: the password alone signs in here.
    page.goto("/account/security")
    expect(page.locator("#trusted-browsers")).to_contain_text("Chrome")
    page.click("#sign-out")
    console.password_step(localhost_server)
    page.wait_for_url(re.compile(r"/$"))
