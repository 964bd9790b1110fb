"""What the browser tests do on the operator's console page and in the customer's terminal."""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from playwright.sync_api import Page
from tests.e2e.processes import AgentProcess
from tests.support.server import RunningServer
from tests.support.testwindow import TestWindow, expected_pattern, pattern_mask
from tests.support.xtools import wait_until, xdotool
from tests.support.xvfb import xauth_free_env

__all__ = [
    "ScreenCanvas",
    "agent_code",
    "answer_prompt",
    "click_tk_button",
    "open_new_session",
    "session_attr",
    "start_agent",
    "tk_window",
]

# Lossy encodings may blur the pattern a little; a wrong colour is far outside this.
PIXEL_TOLERANCE = 40


def open_new_session(page: Page) -> str:
    """Click New support session on the dashboard; return the 9-digit number shown."""
    page.goto("/")
    page.click("#new-session")
    page.wait_for_url(re.compile(r"/sessions/[0-9a-f]+$"))
    shown = page.locator("#session-number").inner_text()
    assert re.fullmatch(r"\d{3} \d{3} \d{3}", shown), shown
    number = page.locator("#session").get_attribute("data-number")
    assert number == shown.replace(" ", "")
    # The console is connected to the server and waiting for the customer.
    page.wait_for_selector("#session[data-state=waiting]")
    assert "Waiting for the customer to join" in page.locator("#session-status").inner_text()
    return number


def start_agent(
    server: RunningServer, number: str, display: str, consent: str = "terminal"
) -> AgentProcess:
    """`tasuke join NUMBER` on the customer's display, as a customer would type it."""
    shown = f"{number[:3]} {number[3:6]} {number[6:]}"
    return AgentProcess(
        ["join", shown, "--server", server.url, "--consent", consent, "--display", display],
        xauth_free_env(display),
    )


def agent_code(agent: AgentProcess) -> str:
    """The verification code in the agent's prompt, digits only."""
    match = agent.wait_for(r"Verification code: ([\d ]{6,7})\s*$", timeout=30)
    return match.group(1).replace(" ", "")


def answer_prompt(agent: AgentProcess, choice: str) -> str:
    """Wait for the terminal consent prompt, type ``choice``; return the code it showed.

    The question is open by the time the prompt is printed, so one answer must do.
    """
    code = agent_code(agent)
    agent.wait_for(r"Type your choice and press Enter", timeout=30)
    mark = agent.mark()
    agent.type_line(choice)
    answered = agent.wait_for(rf"{_NOT_YET}|{_ANSWERED[choice]}", timeout=20, after=mark)
    assert _NOT_YET not in answered.group(0), f"the agent refused {choice!r}:\n{agent.output}"
    return code


_NOT_YET = "Nothing to answer yet"
# What the agent prints once it acted on each answer.
_ANSWERED = {"c": "Being controlled by", "v": "Being viewed by", "d": r"[Dd]enied|拒否しました"}


def session_attr(page: Page, name: str) -> str | None:
    """A data attribute of the session page's root (state the page exposes for tests)."""
    return page.locator("#session").get_attribute(name)


@dataclass
class ScreenCanvas:
    """The noVNC canvas on the console page, in remote-screen coordinates."""

    page: Page

    CANVAS = "#screen canvas"

    def size(self) -> tuple[int, int]:
        """The framebuffer size noVNC draws (the canvas's own pixels)."""
        w, h = self.page.eval_on_selector(self.CANVAS, "c => [c.width, c.height]")
        return int(w), int(h)

    def pixels(self, points: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
        """RGB of the canvas at remote-screen points."""
        values = self.page.eval_on_selector(
            self.CANVAS,
            """(c, points) => {
                const ctx = c.getContext("2d");
                return points.map(([x, y]) => Array.from(ctx.getImageData(x, y, 1, 1).data));
            }""",
            [list(p) for p in points],
        )
        return [(v[0], v[1], v[2]) for v in values]

    def wait_for_pattern(
        self,
        window: TestWindow,
        timeout: float = 30.0,
        exclude: tuple[tuple[int, int, int, int], ...] = (),
    ) -> None:
        """Wait until the canvas shows the test pattern at sample points of every region.

        ``exclude`` lists (x, y, w, h) boxes where other windows (the agent's session
        bar) legitimately cover the pattern on the customer's screen.
        """
        width, height = window.width, window.height
        expected = expected_pattern(width, height)
        mask = pattern_mask(width, height)
        for x, y, w, h in exclude:
            mask[max(y, 0) : y + h, max(x, 0) : x + w] = False
        points = _sample_points(width, height, mask)
        want = {(x, y): (int(expected[y, x, 0]), int(expected[y, x, 1]), int(expected[y, x, 2]))
                for x, y in points}  # fmt: skip
        self.wait_for_colours((width, height), want, timeout, what="the test pattern")

    def wait_for_colours(
        self,
        size: tuple[int, int],
        want: dict[tuple[int, int], tuple[int, int, int]],
        timeout: float = 30.0,
        what: str = "the picture",
    ) -> None:
        """Wait until the canvas has ``size`` and the colours ``want`` at its points (within
        PIXEL_TOLERANCE)."""
        points = list(want)
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            try:
                if self.size() == size:
                    got = self.pixels(points)
                    bad = [
                        (p, g, want[p])
                        for p, g in zip(points, got, strict=True)
                        if max(abs(a - b) for a, b in zip(g, want[p], strict=True))
                        > PIXEL_TOLERANCE
                    ]
                    if not bad:
                        return
                    last = bad[:5]
                else:
                    last = f"canvas size {self.size()}, want {size}"
            except Exception as exc:
                last = exc
            if time.monotonic() > deadline:
                raise AssertionError(f"canvas never showed {what}: {last}")
            self.page.wait_for_timeout(100)

    def page_point(self, x: int, y: int) -> tuple[float, float]:
        """Where remote-screen (x, y) is on the page (the canvas is scaled to fit)."""
        canvas = self.page.locator(self.CANVAS)
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        assert box is not None, "the canvas is not visible"
        w, h = self.size()
        return box["x"] + (x + 0.5) * box["width"] / w, box["y"] + (y + 0.5) * box["height"] / h


def _sample_points(width: int, height: int, mask: np.ndarray) -> list[tuple[int, int]]:
    """Points in the quadrants, in each colour bar, and on the centre checkerboard."""
    points = [
        (width // 4, height * 3 // 8 - 20),
        (width * 3 // 4, height * 3 // 8),
        (width // 4 + 40, height * 3 // 4 - 40),
        (width * 3 // 4, height * 3 // 4),
    ]
    points += [(i * width // 8 + width // 16, height // 16) for i in range(8)]
    cx, cy = width // 2 - 32, height // 2 - 32
    points += [(cx + 10, cy + 10), (cx + 11, cy + 10), (cx + 40, cy + 41), (cx + 40, cy + 40)]
    return [(x, y) for x, y in points if mask[y, x]]


def tk_window(display: str, title: str, timeout: float = 20.0) -> tuple[int, int, int]:
    """Find the agent's Tk window by its title; return (window id, x, y) on the screen."""
    # xdotool matches a regular expression on the name; the English half of the
    # bilingual title is plain ASCII and needs no escaping or locale.
    pattern = re.escape(title.rsplit(" / ", 1)[-1])

    def find() -> str:
        try:
            return xdotool(display, "search", "--onlyvisible", "--name", pattern).split()[0]
        except (AssertionError, IndexError):
            return ""

    wid = wait_until(find, timeout=timeout, interval=0.05, what=f"a window titled {title!r}")
    geometry = xdotool(display, "getwindowgeometry", "--shell", wid)
    values = dict(line.split("=", 1) for line in geometry.split())
    return int(wid), int(values["X"]), int(values["Y"])


def click_tk_button(
    display: str,
    title: str,
    box: tuple[int, int, int, int],
    done: Callable[[], bool],
    timeout: float = 20.0,
) -> None:
    """Click the centre of ``box`` in the window titled ``title`` until ``done()``.

    The consent window arms its buttons only a moment after it appears (so a stray
    click cannot allow anything); a click before that is ignored, so click again until
    the effect shows, as a person would.
    """
    _wid, wx, wy = tk_window(display, title, timeout)
    x, y, w, h = box
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            # What the next person needs to tell a lost click from a window that did not react.
            mouse = xdotool(display, "getmouselocation", "--shell").split()
            now = tk_window(display, title, timeout)
            raise AssertionError(
                f"clicking {box} in {title!r} had no effect: window {(_wid, wx, wy)} then, "
                f"{now} now; pointer {mouse}"
            )
        xdotool(display, "mousemove", str(wx + x + w // 2), str(wy + y + h // 2), "click", "1")
        wait_until_or_timeout(done, 0.5)


def wait_until_or_timeout(condition: Callable[[], bool], timeout: float) -> bool:
    """Wait up to ``timeout`` for ``condition``; return whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
