"""The consent prompt and session bar in a terminal, for PCs without a display.

Standard input is read on a daemon thread, so the asyncio loop never blocks on
it; choices travel back through the thread-safe ``emit``. Lines typed before
the prompt is shown are dropped: a prompt must be answered after it was read.
"""

import sys
import threading
from typing import Literal, TextIO

from tasuke.agent.consent import AllowControl, AllowView, Deny, EndSession, LocalEvent
from tasuke.agent.ui import (
    ALLOW_CONTROL,
    ALLOW_VIEW,
    ASKS,
    CODE_LABEL,
    CODE_NOTE,
    DENY,
    END_SESSION,
    OPERATOR_LABEL,
    ORGANISATION_LABEL,
    PROMPT_TITLE,
    TIMEOUT_NOTE,
    WARNING,
    Emit,
    PromptInfo,
    SessionInfo,
    session_text,
)

__all__ = ["TerminalUI"]

_NOT_YET = "まだ確認することはありません / Nothing to answer yet."

_Mode = Literal["idle", "prompt", "session", "closed"]


class TerminalUI:
    """A :class:`~tasuke.agent.ui.ConsentUI` on standard input and output."""

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self._in = stdin if stdin is not None else sys.stdin
        self._out = stdout if stdout is not None else sys.stdout
        self._lock = threading.Lock()
        self._mode: _Mode = "idle"
        self._view_only = False
        self._eof = False
        self._emit: Emit | None = None

    def start(self, emit: Emit) -> None:
        """Start reading standard input on a daemon thread."""
        self._emit = emit
        threading.Thread(target=self._read_lines, name="tasuke-stdin", daemon=True).start()

    def ask_consent(self, info: PromptInfo) -> None:
        """Print the prompt and wait for c, v or d (EOF means Deny)."""
        # The question is open before it is printed, so an answer typed the
        # moment the prompt appears is never refused.
        with self._lock:
            self._mode = "prompt"
            self._view_only = info.view_only
            eof = self._eof
        if eof:
            self._send(Deny())
            return
        choices = [] if info.view_only else [f"  c = {ALLOW_CONTROL}"]
        choices += [f"  v = {ALLOW_VIEW}", f"  d = {DENY}"]
        self._print(
            "",
            f"==== {PROMPT_TITLE} ====",
            ASKS,
            f"  {OPERATOR_LABEL}: {info.operator}",
            f"  {ORGANISATION_LABEL}: {info.organisation}",
            f"  {CODE_LABEL}: {info.sas}",
            *(f"  {line}" for line in CODE_NOTE.splitlines()),
            "",
            WARNING,
            TIMEOUT_NOTE,
            *choices,
            "選んで Enter を押してください / Type your choice and press Enter: ",
        )

    def show_session(self, info: SessionInfo) -> None:
        """Print the session line and how to end it."""
        with self._lock:
            self._mode = "session"
        self._print(
            session_text(info),
            f"{END_SESSION}: e + Enter (Ctrl+C)",
        )

    def notify(self, text: str) -> None:
        """Print a message for the customer."""
        self._print(text)

    def close(self) -> None:
        """Stop acting on input; the reader thread ends with the process."""
        with self._lock:
            self._mode = "closed"

    def _print(self, *lines: str) -> None:
        self._out.write("\n".join(lines) + "\n")
        self._out.flush()

    def _send(self, event: LocalEvent) -> None:
        if self._emit is not None:
            self._emit(event)

    def _read_lines(self) -> None:
        while True:
            try:
                line = self._in.readline()
            except (OSError, ValueError):
                line = ""
            if not line:
                self._on_eof()
                return
            self._on_line(line.strip().lower())

    def _on_eof(self) -> None:
        with self._lock:
            self._eof = True
            mode = self._mode
        # EOF in the prompt is a Deny; during a session it only means that the
        # keyboard is gone, and the session bar's other ways to end still work.
        if mode == "prompt":
            self._send(Deny())

    def _on_line(self, answer: str) -> None:
        with self._lock:
            mode, view_only = self._mode, self._view_only
        event: LocalEvent | None = None
        if mode == "prompt":
            if answer == "c" and not view_only:
                event = AllowControl()
            elif answer == "v":
                event = AllowView()
            elif answer == "d":
                event = Deny()
            else:
                self._print("c / v / d ?" if not view_only else "v / d ?")
        elif mode == "session" and answer == "e":
            event = EndSession()
        elif mode == "idle" and answer:
            self._print(_NOT_YET)
        if event is not None:
            self._send(event)
