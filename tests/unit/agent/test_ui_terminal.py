"""The terminal consent prompt: what it shows and how answers become events."""

import io
import os
import queue
import threading
from collections.abc import Iterator

import pytest

from tasuke.agent import consent as c
from tasuke.agent.ui import PromptInfo, SessionInfo
from tasuke.agent.ui_terminal import TerminalUI

INFO = PromptInfo(operator="佐藤 花子", organisation="Example Help Desk", sas="042917")


class Output(io.StringIO):
    """stdout that lets a test wait until some text was printed."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = threading.Condition()

    def flush(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def wait_for(self, text: str, timeout: float = 5.0) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: text in self.getvalue(), timeout), self.getvalue()


class Terminal:
    def __init__(self) -> None:
        read_fd, self.write_fd = os.pipe()
        self.stdin = os.fdopen(read_fd, "r", encoding="utf-8")
        self.stdout = Output()
        self.events: queue.Queue[c.LocalEvent] = queue.Queue()
        self.ui = TerminalUI(self.stdin, self.stdout)
        self.ui.start(self.events.put)

    def type(self, text: str) -> None:
        os.write(self.write_fd, text.encode())

    def eof(self) -> None:
        os.close(self.write_fd)
        self.write_fd = -1

    def next_event(self) -> c.LocalEvent:
        return self.events.get(timeout=5.0)


@pytest.fixture
def term() -> Iterator[Terminal]:
    t = Terminal()
    yield t
    if t.write_fd >= 0:
        os.close(t.write_fd)
    for thread in threading.enumerate():
        if thread.name == "tasuke-stdin":
            thread.join(5.0)
    t.stdin.close()


def test_prompt_shows_operator_code_warning_and_choices(term: Terminal) -> None:
    term.ui.ask_consent(INFO)
    out = term.stdout.getvalue()
    for text in (
        "佐藤 花子",
        "Example Help Desk",
        "042917",
        "Only allow people you contacted yourself",
        "ご自身で連絡した相手以外には許可しないでください",
        "c = 操作を許可 / Allow control",
        "v = 表示のみ許可 / Allow view only",
        "d = 拒否 / Deny",
    ):
        assert text in out


def test_the_code_comes_with_the_instruction_to_compare_it(term: Terminal) -> None:
    term.ui.ask_consent(INFO)
    lines = term.stdout.getvalue().splitlines()
    code_line = next(i for i, line in enumerate(lines) if "042917" in line)
    right_after = "\n".join(lines[code_line + 1 : code_line + 3])
    assert (
        "サポート担当者が読み上げるコードがこのコードと同じ場合のみ許可してください" in right_after
    )
    assert "Allow only if the person helping you reads you this same code" in right_after


@pytest.mark.parametrize(
    ("answer", "event"), [("c", c.AllowControl()), ("v", c.AllowView()), ("D", c.Deny())]
)
def test_answers_become_local_events(term: Terminal, answer: str, event: c.LocalEvent) -> None:
    term.ui.ask_consent(INFO)
    term.type(f"{answer}\n")
    assert term.next_event() == event


def test_eof_in_the_prompt_is_deny(term: Terminal) -> None:
    term.ui.ask_consent(INFO)
    term.eof()
    assert term.next_event() == c.Deny()


def test_eof_before_the_prompt_denies_when_it_appears(term: Terminal) -> None:
    term.eof()
    term.stdout.flush()
    term.ui.ask_consent(INFO)
    assert term.next_event() == c.Deny()


def test_lines_typed_before_the_prompt_are_not_answers(term: Terminal) -> None:
    term.type("c\n")
    term.stdout.wait_for("Nothing to answer yet")
    term.ui.ask_consent(INFO)
    term.type("x\n")
    term.stdout.wait_for("c / v / d ?")
    term.type("v\n")
    assert term.next_event() == c.AllowView()
    assert term.events.empty()


def test_view_only_grant_does_not_offer_control(term: Terminal) -> None:
    term.ui.ask_consent(PromptInfo("A", "B", "123456", view_only=True))
    assert "Allow control" not in term.stdout.getvalue()
    term.type("c\n")
    term.stdout.wait_for("v / d ?")
    term.type("v\n")
    assert term.next_event() == c.AllowView()


def test_session_line_and_end(term: Terminal) -> None:
    term.ui.ask_consent(INFO)
    term.type("c\n")
    assert term.next_event() == c.AllowControl()
    term.ui.show_session(SessionInfo("佐藤 花子", "control"))
    out = term.stdout.getvalue()
    assert "佐藤 花子 が操作しています / Being controlled by 佐藤 花子" in out
    assert "End session" in out
    term.type("e\n")
    assert term.next_event() == c.EndSession()


def test_eof_during_the_session_does_not_end_it(term: Terminal) -> None:
    term.ui.ask_consent(INFO)
    term.type("v\n")
    assert term.next_event() == c.AllowView()
    term.ui.show_session(SessionInfo("A", "view"))
    assert "Being viewed by A" in term.stdout.getvalue()
    term.eof()
    with pytest.raises(queue.Empty):
        term.events.get(timeout=0.2)
