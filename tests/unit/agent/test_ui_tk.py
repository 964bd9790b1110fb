"""The Tk consent window on a real X display: answers come only from mouse clicks."""

import queue
import subprocess
import time
from collections.abc import Iterator

import pytest
from Xlib import X
from Xlib import display as xdisplay
from Xlib.protocol import event as xevent

from tasuke import limits
from tasuke.agent import consent as c
from tasuke.agent.ui import PromptInfo, SessionInfo
from tasuke.agent.ui_tk import PROMPT_BUTTONS, SESSION_BUTTONS, TkUI
from tests.support.xtools import wait_until, xdotool
from tests.support.xvfb import xauth_free_env

pytestmark = pytest.mark.x11

INFO = PromptInfo(operator="佐藤 花子", organisation="Example Help Desk", sas="042917")


def find_window(display: str, title: str) -> str | None:
    done = subprocess.run(
        ["xdotool", "search", "--name", title],
        env=xauth_free_env(display),
        capture_output=True,
        text=True,
        check=False,
    )
    ids = done.stdout.split()
    return ids[0] if done.returncode == 0 and ids else None


def describe_windows(display: str) -> list[tuple[str, str, str]]:
    """(id, name, owning process) of every named window: who else could have got a click."""
    found: list[tuple[str, str, str]] = []
    try:
        windows = xdotool(display, "search", "--name", ".").split()
    except AssertionError:  # none at all
        return found
    for window in windows:
        name = subprocess.run(
            ["xdotool", "getwindowname", window], env=xauth_free_env(display),
            capture_output=True, text=True, check=False,
        ).stdout.strip()  # fmt: skip
        pid = subprocess.run(
            ["xdotool", "getwindowpid", window], env=xauth_free_env(display),
            capture_output=True, text=True, check=False,
        ).stdout.strip()  # fmt: skip
        found.append((window, name, pid))
    return found


def click(display: str, window: str, box: tuple[int, int, int, int]) -> None:
    geometry = dict(
        line.split("=", 1)
        for line in xdotool(display, "getwindowgeometry", "--shell", window).split()
    )
    x = int(geometry["X"]) + box[0] + box[2] // 2
    y = int(geometry["Y"]) + box[1] + box[3] // 2
    xdotool(display, "mousemove", str(x), str(y), "click", "1")


def ask_window_to_close(display: str, window: str) -> None:
    """What a window manager's close button does: a WM_DELETE_WINDOW client message."""
    conn = xdisplay.Display(display)
    try:
        target = conn.create_resource_object("window", int(window))
        protocols = conn.intern_atom("WM_PROTOCOLS")
        delete = conn.intern_atom("WM_DELETE_WINDOW")

        def offers_delete() -> bool:
            prop = target.get_full_property(protocols, X.AnyPropertyType)
            return prop is not None and delete in prop.value

        # A window manager sends it only once the window says it takes it (ICCCM 4.2.8.1);
        # the title can be there a moment before the protocols under load.
        wait_until(offers_delete, what="WM_PROTOCOLS with WM_DELETE_WINDOW")
        message = xevent.ClientMessage(
            window=target, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0])
        )
        target.send_event(message, event_mask=X.NoEventMask)
        # A round trip, not just a flush: python-xlib's close() does not wait for the
        # server, and a request flushed just before it was at times never carried out
        # (the window got no message). The server has handled the SendEvent once sync()
        # returns.
        conn.sync()
    finally:
        conn.close()


class Harness:
    def __init__(self, display: str) -> None:
        self.display = display
        self.events: queue.Queue[c.LocalEvent] = queue.Queue()
        self.ui = TkUI(display)
        self.ui.start(self.events.put)

    def window(self, title: str) -> str:
        found = wait_until(lambda: find_window(self.display, title), what=title)
        return found

    def next_event(self) -> c.LocalEvent:
        try:
            return self.events.get(timeout=10.0)
        except queue.Empty:
            raise AssertionError(
                f"no event from the window in 10 s; windows on {self.display}: "
                f"{describe_windows(self.display)}"
            ) from None

    def no_event(self, within: float) -> None:
        with pytest.raises(queue.Empty):
            self.events.get(timeout=within)


@pytest.fixture
def tk_ui(x_display: str) -> Iterator[Harness]:
    harness = Harness(x_display)
    yield harness
    harness.ui.close()
    wait_until(lambda: find_window(x_display, "Tasuke") is None, what="windows gone")


def click_when_armed(h: Harness, window: str, box: tuple[int, int, int, int]) -> c.LocalEvent:
    # Disarmed for CONSENT_ARM_DELAY after it appears: keep clicking until it counts.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        click(h.display, window, box)
        try:
            return h.events.get(timeout=0.3)
        except queue.Empty:
            continue
    raise AssertionError("the button never answered")


def test_deny_button(tk_ui: Harness) -> None:
    tk_ui.ui.ask_consent(INFO)
    window = tk_ui.window("Allow connection")
    assert click_when_armed(tk_ui, window, PROMPT_BUTTONS["deny"]) == c.Deny()


def test_allow_buttons(tk_ui: Harness) -> None:
    tk_ui.ui.ask_consent(INFO)
    window = tk_ui.window("Allow connection")
    assert click_when_armed(tk_ui, window, PROMPT_BUTTONS["view"]) == c.AllowView()
    click(tk_ui.display, window, PROMPT_BUTTONS["control"])
    assert tk_ui.next_event() == c.AllowControl()


def test_the_code_comes_with_the_instruction_to_compare_it(tk_ui: Harness) -> None:
    tk_ui.ui.ask_consent(INFO)
    tk_ui.window("Allow connection")
    texts = wait_until(lambda: tk_ui.ui.shown_texts() or None, what="the prompt's labels")
    code = next(i for i, (text, _) in enumerate(texts) if "042917" in text)
    note = next(
        (i, bottom)
        for i, (text, bottom) in enumerate(texts)
        if "Allow only if the person helping you reads you this same code" in text
        and "サポート担当者が読み上げるコードがこのコードと同じ場合のみ許可してください" in text
    )
    assert abs(note[0] - code) == 1, texts  # next to the code, not elsewhere in the window
    # Every text is readable above the buttons, not hidden behind them.
    buttons_top = min(box[1] for box in PROMPT_BUTTONS.values())
    assert all(bottom <= buttons_top for _, bottom in texts), texts


def test_keyboard_never_answers(tk_ui: Harness) -> None:
    tk_ui.ui.ask_consent(INFO)
    window = tk_ui.window("Allow connection")
    xdotool(tk_ui.display, "windowfocus", "--sync", window)
    until = time.monotonic() + limits.CONSENT_ARM_DELAY + 0.5
    while time.monotonic() < until:
        xdotool(tk_ui.display, "key", "Return", "space", "KP_Enter", "Tab", "space")
        tk_ui.no_event(0.1)


def test_view_only_prompt_has_no_allow_control(tk_ui: Harness) -> None:
    tk_ui.ui.ask_consent(PromptInfo("A", "B", "123456", view_only=True))
    window = tk_ui.window("Allow connection")
    assert click_when_armed(tk_ui, window, PROMPT_BUTTONS["view"]) == c.AllowView()
    click(tk_ui.display, window, PROMPT_BUTTONS["control"])
    tk_ui.no_event(0.5)


def test_closing_the_prompt_then_the_bar(tk_ui: Harness) -> None:
    tk_ui.ui.ask_consent(INFO)
    ask_window_to_close(tk_ui.display, tk_ui.window("Allow connection"))
    assert tk_ui.next_event() == c.WindowClosed()
    tk_ui.ui.show_session(SessionInfo("佐藤 花子", "control"))
    bar = tk_ui.window("Support session")
    wait_until(lambda: find_window(tk_ui.display, "Allow connection") is None)
    ask_window_to_close(tk_ui.display, bar)
    assert tk_ui.next_event() == c.WindowClosed()


def test_end_session_button(tk_ui: Harness) -> None:
    tk_ui.ui.show_session(SessionInfo("佐藤 花子", "view"))
    bar = tk_ui.window("Support session")
    click(tk_ui.display, bar, SESSION_BUTTONS["end"])
    assert tk_ui.next_event() == c.EndSession()
