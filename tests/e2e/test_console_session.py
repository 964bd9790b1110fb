"""The whole product from the operator's browser: a real server, a real agent on Xvfb.

Each test is one support call: the operator signs in and creates a session, the customer
runs `tasuke join` and answers the consent prompt, and the test checks what the operator
sees in the console and what arrives on the customer's screen.
"""

import re
import time

import pytest
from playwright.sync_api import Page, expect
from tests.e2e.console import (
    ScreenCanvas,
    answer_prompt,
    click_tk_button,
    open_new_session,
    session_attr,
    start_agent,
    tk_window,
)
from tests.support.server import RunningServer
from tests.support.testwindow import TestWindow, entry_region

from tasuke.agent.ui import PROMPT_TITLE, SESSION_TITLE
from tasuke.agent.ui_tk import PROMPT_BUTTONS, SESSION_BUTTONS, SESSION_SIZE

pytestmark = [pytest.mark.browser, pytest.mark.x11, pytest.mark.timeout(180)]

SCREENSHOT = "/tmp/tasuke-session.png"
# The promise: either side ending closes both within a second.
END_WITHIN = 1.0


def _expect_verified_codes(page: Page, agent_sas: str) -> None:
    expect(page.locator("#sas")).to_have_text(f"{agent_sas[:3]} {agent_sas[3:]}", timeout=20_000)
    assert session_attr(page, "data-sas") == agent_sas
    page.get_by_role("button", name="Codes match / 確認コード一致").click()
    expect(page.locator("#session")).to_have_attribute("data-verified", "true")
    expect(page.locator("#verified-note")).to_contain_text("codes match")


def test_operator_sees_and_controls_the_customer_screen(
    page: Page, server: RunningServer, display: str, test_window: TestWindow
) -> None:
    number = open_new_session(page)
    agent = start_agent(server, number, display)
    try:
        # The console learns who joined before the customer has answered.
        expect(page.locator("#customer")).to_be_visible(timeout=20_000)
        facts = page.locator("#customer-facts").inner_text()
        assert f"{test_window.width} × {test_window.height}" in facts
        assert "127.0.0.1" in facts

        sas = answer_prompt(agent, "c")
        _expect_verified_codes(page, sas)
        expect(page.locator("#consent-status")).to_contain_text(
            "Customer allowed control", timeout=20_000
        )

        canvas = ScreenCanvas(page)
        expect(page.locator("#session")).to_have_attribute("data-rfb", "connected", timeout=20_000)
        canvas.wait_for_pattern(test_window)
        page.screenshot(path=SCREENSHOT, full_page=True)

        # A click on the entry in the canvas lands on the customer's X window there.
        ex, ey, ew, eh = entry_region(test_window.width, test_window.height)
        target = (ex + ew // 2, ey + eh // 2)
        mark = test_window.log.mark()
        sent_before = int(session_attr(page, "data-rfb-sent") or 0)
        page.mouse.click(*canvas.page_point(*target))
        page.wait_for_function(
            "(n) => Number(document.getElementById('session').dataset.rfbSent) > n",
            arg=sent_before,
        )
        click = test_window.log.wait_for(lambda e: e["event"] == "click", after=mark)
        assert click["button"] == 1
        assert abs(click["x"] - target[0]) <= 2
        assert abs(click["y"] - target[1]) <= 2

        # Typed text, shifted characters included, arrives as that text.
        page.keyboard.press("Escape")
        test_window.log.wait_text("", after=mark)
        page.keyboard.type("Hello, World!")
        test_window.log.wait_text("Hello, World!", after=mark, timeout=15)
    finally:
        agent.stop()
        print(f"--- agent output ---\n{agent.output}")


def test_deny_leaves_the_console_saying_denied_with_no_screen_sent(
    page: Page, server: RunningServer, display: str, test_window: TestWindow
) -> None:
    number = open_new_session(page)
    agent = start_agent(server, number, display)
    try:
        sas = answer_prompt(agent, "d")
        expect(page.locator("#sas")).to_have_text(f"{sas[:3]} {sas[3:]}", timeout=20_000)
        expect(page.locator("#consent-status")).to_have_text(
            "Customer denied the connection / お客様が接続を拒否しました", timeout=20_000
        )
        # After a denial the agent leaves; once it is gone nothing more can arrive.
        agent.wait_exit(timeout=15)
        expect(page.locator("#session")).to_have_attribute("data-state", "ended", timeout=10_000)
        assert session_attr(page, "data-rfb-records") == "0"
        assert page.locator("#screen canvas").count() == 0
        expect(page.locator("#consent-status")).to_contain_text("denied")
    finally:
        agent.stop()
        print(f"--- agent output ---\n{agent.output}")


def test_customer_ending_shows_in_the_console_within_a_second(
    page: Page, server: RunningServer, display: str, test_window: TestWindow
) -> None:
    number = open_new_session(page)
    agent = start_agent(server, number, display)
    try:
        answer_prompt(agent, "c")
        expect(page.locator("#session")).to_have_attribute("data-rfb", "connected", timeout=30_000)
        agent.wait_for(r"e \+ Enter", timeout=20)

        started = time.monotonic()
        agent.type_line("e")
        expect(page.locator("#session")).to_have_attribute(
            "data-ended-by", "customer", timeout=int(END_WITHIN * 1000)
        )
        elapsed = time.monotonic() - started
        assert elapsed < END_WITHIN, f"the console learnt of the end after {elapsed:.2f}s"
        expect(page.locator("#session-status")).to_have_text(
            "Session ended by the customer / お客様がセッションを終了しました"
        )
        # The remote screen is torn down and the operator cannot act any more.
        expect(page.locator("#screen canvas")).to_have_count(0, timeout=int(END_WITHIN * 1000))
        expect(page.locator("#end-session")).to_be_disabled()
        agent.wait_exit(timeout=10)
    finally:
        agent.stop()
        print(f"--- agent output ---\n{agent.output}")


def test_operator_ending_closes_the_agent(
    page: Page, server: RunningServer, display: str, test_window: TestWindow
) -> None:
    number = open_new_session(page)
    agent = start_agent(server, number, display)
    try:
        answer_prompt(agent, "v")
        expect(page.locator("#consent-status")).to_contain_text(
            "Customer allowed view only", timeout=20_000
        )
        expect(page.locator("#session")).to_have_attribute("data-scope", "view")
        expect(page.locator("#session")).to_have_attribute("data-rfb", "connected", timeout=30_000)

        started = time.monotonic()
        page.get_by_role("button", name=re.compile("End session")).click()
        expect(page.locator("#session-status")).to_have_text(
            "You ended the session / セッションを終了しました"
        )
        agent.wait_exit(timeout=10)
        elapsed = time.monotonic() - started
        assert elapsed < END_WITHIN + 1.0, f"the agent ran on for {elapsed:.2f}s"
    finally:
        agent.stop()
        print(f"--- agent output ---\n{agent.output}")


def test_customer_allows_in_the_consent_window_and_ends_from_the_session_bar(
    page: Page, server: RunningServer, display: str, test_window: TestWindow
) -> None:
    number = open_new_session(page)
    agent = start_agent(server, number, display, consent="tk")
    try:
        expect(page.locator("#sas")).to_have_text(re.compile(r"^\d{3} \d{3}$"), timeout=20_000)
        click_tk_button(
            display,
            PROMPT_TITLE,
            PROMPT_BUTTONS["control"],
            done=lambda: session_attr(page, "data-consent") == "granted",
        )
        expect(page.locator("#consent-status")).to_contain_text("Customer allowed control")
        expect(page.locator("#session")).to_have_attribute("data-scope", "control")
        # The customer's persistent bar covers part of the pattern, as on their screen.
        _wid, bar_x, bar_y = tk_window(display, SESSION_TITLE)
        bar = (bar_x, bar_y, *SESSION_SIZE)
        ScreenCanvas(page).wait_for_pattern(test_window, exclude=(bar,))

        # The customer's persistent bar has End session; the console hears of it at once.
        click_tk_button(
            display,
            SESSION_TITLE,
            SESSION_BUTTONS["end"],
            done=lambda: session_attr(page, "data-state") == "ended",
        )
        expect(page.locator("#session")).to_have_attribute("data-ended-by", "customer")
        expect(page.locator("#session-status")).to_contain_text("Session ended by the customer")
        agent.wait_exit(timeout=10)
    finally:
        agent.stop()
        print(f"--- agent output ---\n{agent.output}")
