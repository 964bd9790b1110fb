"""A customer with two monitors: the operator's console shows one of them or both, and its
selector follows monitors plugged in or removed during the session."""

import contextlib
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from tests.e2e.console import (
    ScreenCanvas,
    answer_prompt,
    open_new_session,
    session_attr,
    start_agent,
)
from tests.support.monitors import two_monitors, xrandr
from tests.support.server import RunningServer
from tests.support.xvfb import xvfb

pytestmark = [pytest.mark.browser, pytest.mark.x11, pytest.mark.timeout(180)]

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)
# A green mark on the right-hand monitor, so its picture is told apart from a flat fill.
MARK = (640 + 200, 100, 120, 80)


def _two_monitors() -> contextlib.AbstractContextManager[str]:
    """Two 640x480 monitors: the left red, the right blue with a green mark."""
    paint = [((0, 0, 640, 480), RED), ((640, 0, 640, 480), BLUE), (MARK, GREEN)]
    return two_monitors([(box, (r << 16) | (g << 8) | b) for box, (r, g, b) in paint])


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """Two monitors that the tests leave as they are."""
    with _two_monitors() as name:
        yield name


@contextlib.contextmanager
def _viewing(page: Page, server: RunningServer, display: str) -> Iterator[None]:
    """A session of ``display`` that the customer allowed to view, connected in the console."""
    number = open_new_session(page)
    agent = start_agent(server, number, display)
    try:
        answer_prompt(agent, "v")
        expect(page.locator("#session")).to_have_attribute("data-rfb", "connected", timeout=30_000)
        yield
    finally:
        agent.stop()
        print(f"--- agent output ---\n{agent.output}")


def test_the_operator_switches_between_one_monitor_and_all(
    page: Page, server: RunningServer, display: str
) -> None:
    with _viewing(page, server, display):
        canvas = ScreenCanvas(page)
        mx, my = MARK[0] + 10, MARK[1] + 10
        both = {(100, 100): RED, (1000, 400): BLUE, (mx, my): GREEN}
        canvas.wait_for_colours((1280, 480), both)

        picker = page.locator("#monitor-select")
        expect(page.locator("#monitor-picker")).to_be_visible()
        expect(picker.locator("option")).to_have_text(
            [
                "All monitors / すべてのモニター",
                "Monitor 1 / モニター 1 (640 × 480)",
                "Monitor 2 / モニター 2 (640 × 480)",
            ]
        )
        expect(picker).to_have_value("0")

        # Monitor 2 alone: the canvas takes its size and shows its picture, mark included.
        picker.select_option(label="Monitor 2 / モニター 2 (640 × 480)")
        right = {(100, 400): BLUE, (mx - 640, my): GREEN, (600, 20): BLUE}
        canvas.wait_for_colours((640, 480), right)
        assert session_attr(page, "data-monitor") == "2"

        picker.select_option("1")
        canvas.wait_for_colours((640, 480), {(100, 100): RED, (mx - 640, my): RED})

        picker.select_option("0")
        canvas.wait_for_colours((1280, 480), both)
        # Choosing what to see is no consent: the customer still allowed view only.
        assert session_attr(page, "data-scope") == "view"
        assert session_attr(page, "data-state") != "ended"


def test_one_monitor_has_no_selector(page: Page, server: RunningServer) -> None:
    with xvfb(800, 600) as single, _viewing(page, server, single):
        expect(page.locator("#customer-facts")).to_contain_text("800 × 600")
        expect(page.locator("#monitor-picker")).to_be_hidden()


def test_the_selector_follows_monitors_plugged_in_and_removed(
    page: Page, server: RunningServer
) -> None:
    with _two_monitors() as changing, _viewing(page, server, changing):
        canvas = ScreenCanvas(page)
        picker = page.locator("#monitor-select")
        options = picker.locator("option")
        expect(options).to_have_count(3, timeout=30_000)
        notice = page.locator("#monitor-notice")
        picker.select_option("2")
        canvas.wait_for_colours((640, 480), {(100, 400): BLUE})
        expect(notice).to_be_hidden()

        # A third monitor is plugged in: listed at once, and monitor 2 is still shown.
        xrandr(changing, "--setmonitor", "middle", "640/170x240/64+320+120", "none")
        expect(options).to_have_text(
            [
                "All monitors / すべてのモニター",
                "Monitor 1 / モニター 1 (640 × 480)",
                "Monitor 2 / モニター 2 (640 × 480)",
                "Monitor 3 / モニター 3 (640 × 240)",
            ],
            timeout=30_000,
        )
        expect(picker).to_have_value("2")
        expect(notice).to_have_text(
            "The customer's monitors changed: 3 connected, showing monitor 2. / "
            "お客様のモニター構成が変わりました（3 台）。モニター 2 を表示しています。"
        )
        canvas.wait_for_colours((640, 480), {(100, 400): BLUE})

        # The monitor shown is removed: the agent shows all, and so does the selector.
        xrandr(changing, "--delmonitor", "right")
        expect(options).to_have_text(
            [
                "All monitors / すべてのモニター",
                "Monitor 1 / モニター 1 (640 × 480)",
                "Monitor 2 / モニター 2 (640 × 240)",
            ],
            timeout=30_000,
        )
        expect(picker).to_have_value("0")
        expect(page.locator("#session")).to_have_attribute("data-monitor", "0")
        # The operator is told why the picture changed under them.
        expect(notice).to_have_text(
            "Monitor 2 is not connected any more: showing all monitors. / "
            "モニター 2 が接続されていないため、すべてのモニターを表示しています。"
        )
        canvas.wait_for_colours((1280, 480), {(100, 100): RED, (1000, 400): BLUE})

        # The new list is the one the operator chooses from.
        picker.select_option("2")
        canvas.wait_for_colours((640, 240), {(20, 20): RED, (600, 220): BLUE})
        expect(notice).to_be_hidden()
        assert session_attr(page, "data-scope") == "view"
        assert session_attr(page, "data-state") != "ended"
