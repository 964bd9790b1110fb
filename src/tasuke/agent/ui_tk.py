"""The consent window and the session bar, in Tk (standard library).

Tk is not thread-safe, so every Tk call happens on one thread that this module
owns. The asyncio side posts commands to a :class:`queue.Queue` that the Tk
thread drains every few milliseconds; the customer's clicks travel back through
the thread-safe ``emit``.

The prompt has no default button and no keyboard answer: buttons never take
focus, and Return, space and Enter on them do nothing, so neither a stray key
press nor remote input can allow a connection. The buttons are also disarmed for
``limits.CONSENT_ARM_DELAY`` after the window appears, so a click aimed at
another window cannot land on Allow. Windows have fixed sizes and the buttons
fixed places (``PROMPT_BUTTONS``, ``SESSION_BUTTONS``) so tests can click them.
"""

import gc
import queue
import sys
import threading
import tkinter as tk
from collections.abc import Callable
from typing import Final

from tasuke import limits
from tasuke.agent.consent import AllowControl, AllowView, Deny, EndSession, WindowClosed
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
    SESSION_TITLE,
    TIMEOUT_NOTE,
    WARNING,
    Emit,
    PromptInfo,
    SessionInfo,
    session_text,
)
from tasuke.errors import ConfigError

__all__ = ["PROMPT_BUTTONS", "PROMPT_SIZE", "SESSION_BUTTONS", "SESSION_SIZE", "TkUI"]

PROMPT_SIZE: Final = (600, 480)
PROMPT_BUTTONS: Final[dict[str, tuple[int, int, int, int]]] = {
    "control": (16, 410, 184, 52),
    "view": (208, 410, 184, 52),
    "deny": (400, 410, 184, 52),
}
"""Button boxes (x, y, width, height) inside the prompt window."""
SESSION_SIZE: Final = (560, 96)
SESSION_BUTTONS: Final[dict[str, tuple[int, int, int, int]]] = {"end": (380, 22, 164, 52)}
"""Button boxes (x, y, width, height) inside the session bar window."""

_POLL_MS = 30
_START_TIMEOUT = 10.0
_KEYS_THAT_MUST_NOT_ANSWER = ("<Return>", "<KP_Enter>", "<space>", "<Key>")

_Command = tuple[str, object]


class TkUI:
    """A :class:`~tasuke.agent.ui.ConsentUI` drawn with Tk on its own thread."""

    def __init__(self, display: str | None = None) -> None:
        self._display = display
        self._commands: queue.Queue[_Command] = queue.Queue()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._emit: Emit | None = None
        # Below: touched only on the Tk thread.
        self._root: tk.Tk | None = None
        self._window: tk.Toplevel | None = None

    # --- asyncio side -------------------------------------------------------

    def start(self, emit: Emit) -> None:
        """Start the Tk thread and wait until it has opened the display.

        Raises:
            ConfigError: Tk cannot open the display.
        """
        self._emit = emit
        self._thread = threading.Thread(target=self._run, name="tasuke-tk", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT) or self._error is not None:
            raise ConfigError(f"cannot open the consent window: {self._error}")

    def ask_consent(self, info: PromptInfo) -> None:
        """Show the consent window."""
        self._commands.put(("ask", info))

    def show_session(self, info: SessionInfo) -> None:
        """Replace the consent window with the session bar."""
        self._commands.put(("session", info))

    def notify(self, text: str) -> None:
        """Print a message; the windows themselves only show consent and session state."""
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def shown_texts(self, timeout: float = 5.0) -> list[tuple[str, int]]:
        """What the open window says: each label's text and its bottom edge in the window.

        For tests and diagnostics: it lets a test check that a text is on screen and
        clear of the buttons without reading pixels.

        Raises:
            TimeoutError: the Tk thread did not answer within ``timeout`` seconds.
        """
        reply: queue.Queue[list[tuple[str, int]]] = queue.Queue()
        self._commands.put(("describe", reply))
        try:
            return reply.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError("the consent window did not answer") from None

    def close(self) -> None:
        """Destroy every window and stop the Tk thread."""
        self._commands.put(("close", None))
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    # --- Tk thread ----------------------------------------------------------

    def _run(self) -> None:
        try:
            root = tk.Tk(screenName=self._display, className="Tasuke")
        except tk.TclError as exc:
            self._error = exc
            self._ready.set()
            return
        root.withdraw()
        self._root = root
        self._ready.set()
        root.after(_POLL_MS, self._drain)
        root.mainloop()
        # Tcl aborts the process if its objects are freed on another thread, so every
        # Python wrapper of a Tk object must die here, on the thread that made it.
        self._window = None
        self._root = None
        del root
        gc.collect()

    def _send(self, event: AllowControl | AllowView | Deny | EndSession | WindowClosed) -> None:
        if self._emit is not None:
            self._emit(event)

    def _drain(self) -> None:
        root = self._root
        assert root is not None
        while True:
            try:
                command, arg = self._commands.get_nowait()
            except queue.Empty:
                break
            if command == "close":
                if self._window is not None:
                    self._window.destroy()
                    self._window = None
                root.quit()
                root.destroy()
                return
            if command == "ask" and isinstance(arg, PromptInfo):
                self._show_prompt(arg)
            elif command == "session" and isinstance(arg, SessionInfo):
                self._show_bar(arg)
            elif command == "describe" and isinstance(arg, queue.Queue):
                arg.put(self._describe())
        root.after(_POLL_MS, self._drain)

    def _describe(self) -> list[tuple[str, int]]:
        window = self._window
        if window is None:
            return []
        window.update_idletasks()
        found: list[tuple[str, int]] = []
        pending: list[tk.Misc] = [window]
        while pending:
            widget = pending.pop(0)
            pending.extend(widget.winfo_children())
            if isinstance(widget, tk.Label):
                top = widget.winfo_rooty() - window.winfo_rooty()
                found.append((str(widget.cget("text")), top + widget.winfo_height()))
        return found

    def _replace_window(self) -> tk.Toplevel | None:
        if self._window is not None:
            self._window.destroy()
            self._window = None
        if self._root is None:
            return None
        window = tk.Toplevel(self._root)
        self._window = window
        return window

    def _button(
        self,
        window: tk.Toplevel,
        text: str,
        box: tuple[int, int, int, int],
        action: Callable[[], None],
    ) -> tk.Button:
        # Two lines (Japanese over English) so both fit the fixed-size button.
        label = text.replace(" / ", "\n")
        button = tk.Button(window, text=label, command=action, takefocus=0, default="disabled")
        for sequence in _KEYS_THAT_MUST_NOT_ANSWER:
            button.bind(sequence, lambda _e: "break")
        x, y, w, h = box
        button.place(x=x, y=y, width=w, height=h)
        return button

    def _show_prompt(self, info: PromptInfo) -> None:
        window = self._replace_window()
        if window is None:
            return
        width, height = PROMPT_SIZE
        window.title(PROMPT_TITLE)
        window.geometry(f"{width}x{height}+80+60")
        window.resizable(False, False)
        window.attributes("-topmost", True)
        window.protocol("WM_DELETE_WINDOW", lambda: self._send(WindowClosed()))
        text = tk.Frame(window)
        text.place(x=16, y=12, width=width - 32, height=PROMPT_BUTTONS["deny"][1] - 20)
        wrap = width - 40
        tk.Label(text, text=ASKS, justify="left", wraplength=wrap).pack(anchor="w")
        for label, value in (
            (OPERATOR_LABEL, info.operator),
            (ORGANISATION_LABEL, info.organisation),
        ):
            tk.Label(
                text,
                text=f"{label}: {value}",
                justify="left",
                wraplength=wrap,
                font=("TkDefaultFont", 12, "bold"),
            ).pack(anchor="w", pady=(6, 0))
        tk.Label(text, text=f"{CODE_LABEL}: {info.sas}", font=("TkFixedFont", 16, "bold")).pack(
            anchor="w", pady=(10, 0)
        )
        # Right under the code: a code nobody compares protects nobody.
        tk.Label(
            text,
            text=CODE_NOTE,
            justify="left",
            wraplength=wrap,
            font=("TkDefaultFont", 10, "bold"),
        ).pack(anchor="w", pady=(2, 0))
        tk.Label(text, text=WARNING, justify="left", wraplength=wrap, fg="#a00000").pack(
            anchor="w", pady=(10, 0)
        )
        tk.Label(text, text=TIMEOUT_NOTE, justify="left", wraplength=wrap).pack(
            anchor="w", pady=(6, 0)
        )
        buttons = [self._button(window, DENY, PROMPT_BUTTONS["deny"], lambda: self._send(Deny()))]
        buttons.append(
            self._button(
                window, ALLOW_VIEW, PROMPT_BUTTONS["view"], lambda: self._send(AllowView())
            )
        )
        if not info.view_only:
            buttons.append(
                self._button(
                    window,
                    ALLOW_CONTROL,
                    PROMPT_BUTTONS["control"],
                    lambda: self._send(AllowControl()),
                )
            )
        for button in buttons:
            button.configure(state="disabled")
        window.focus_set()

        def arm() -> None:
            for button in buttons:
                if button.winfo_exists():
                    button.configure(state="normal")

        window.after(int(limits.CONSENT_ARM_DELAY * 1000), arm)

    def _show_bar(self, info: SessionInfo) -> None:
        window = self._replace_window()
        if window is None:
            return
        width, height = SESSION_SIZE
        window.title(SESSION_TITLE)
        window.geometry(f"{width}x{height}+80+0")
        window.resizable(False, False)
        window.attributes("-topmost", True)
        window.protocol("WM_DELETE_WINDOW", lambda: self._send(WindowClosed()))
        tk.Label(
            window,
            text=session_text(info),
            justify="left",
            wraplength=350,
            fg="#ffffff",
            bg="#b00020",
        ).place(x=0, y=0, width=370, height=height)
        self._button(window, END_SESSION, SESSION_BUTTONS["end"], lambda: self._send(EndSession()))
