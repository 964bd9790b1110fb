"""Agent-supplied strings are hostile: the console shows them as text and runs nothing.

A fake agent joins a real session with markup in every string it controls. The operator's
session page and dashboard, rendered by real Chromium, must show the strings literally and
execute none of them; the CSP header is on every page as a second line of defence.
"""

import json
import re

import pytest
from playwright.sync_api import Page
from tests.e2e.console import open_new_session
from tests.support.server import RunningServer
from websockets.sync.client import connect

pytestmark = pytest.mark.browser

HOSTILE_HOST = '<img src=x onerror="window.__pwned=1">pc-01'
HOSTILE_OS = "<script>window.__pwned=2</script>Debian"


def _hostile_hello(number: str) -> str:
    """An agent hello for ``number`` whose host name and OS carry markup."""
    hello = {
        "type": "hello",
        "role": "agent",
        "version": 1,
        "join": number,
        "agent": {
            "os": HOSTILE_OS,
            "hostname": HOSTILE_HOST,
            "screen": [800, 600],
            "agent_version": '"><svg onload=window.__pwned=3>',
        },
    }
    return json.dumps(hello)


def test_hostile_agent_strings_render_as_text(page: Page, server: RunningServer) -> None:
    number = open_new_session(page)
    with connect(server.ws_url + "/ws/agent", open_timeout=10) as ws:
        ws.send(_hostile_hello(number))
        welcome = json.loads(ws.recv(timeout=10))
        assert welcome["type"] == "welcome", welcome
        page.wait_for_selector("#session[data-state=joined], #session[data-state=secure]")
        facts = page.locator("#customer-facts").inner_text()
        assert HOSTILE_HOST in facts
        assert HOSTILE_OS in facts
        # Nothing was parsed as markup: no element came from the strings, nothing ran.
        assert page.locator("#customer-facts img, #customer-facts script").count() == 0
        assert page.evaluate("window.__pwned") is None
    page.wait_for_selector("#session[data-state=ended]")

    response = page.goto("/")
    assert response is not None
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    table = page.locator("table").first.inner_text()
    assert re.search(re.escape(HOSTILE_HOST), table), table
    assert page.locator("table img, table script, table svg").count() == 0
    assert page.evaluate("window.__pwned") is None
