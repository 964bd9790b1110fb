"""An X test window that shows a known picture and logs the input it receives.

Run it on a display (``python -m tests.support.testwindow --log FILE [--title T]``)
or, from tests, through :func:`running_testwindow`. It covers the whole screen
(override-redirect: Xvfb has no window manager) with :func:`expected_pattern`,
holds a text entry in :func:`entry_region` (the only area that is not
deterministic, see :func:`pattern_mask`) and appends one JSON object per line
to the log:

- ``{"event": "ready"}`` once the window is mapped, painted and has keyboard focus;
- ``{"event": "key", "keysym": "A", "keysym_num": 65, "char": "A"}`` for every KeyPress;
- ``{"event": "click", "x": 10, "y": 20, "button": 1}`` for every ButtonPress
  (root coordinates; wheel clicks are buttons 4 to 7);
- ``{"event": "text", "value": "..."}`` whenever the entry's text changes.

Escape clears the entry, so that each test can start from an empty text.
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from tests.support.xvfb import xauth_free_env

__all__ = [
    "EventLog",
    "TestWindow",
    "entry_region",
    "expected_pattern",
    "pattern_mask",
    "running_testwindow",
]

Event = dict[str, Any]
RGB = npt.NDArray[np.uint8]

REPO_ROOT = Path(__file__).resolve().parents[2]
_READY_TIMEOUT = 20.0

QUADRANT_COLOURS = ((200, 30, 40), (30, 170, 60), (40, 60, 210), (235, 235, 235))
"""Top-left, top-right, bottom-left, bottom-right background (R, G, B)."""
BAR_COLOURS = (
    (255, 255, 255),
    (255, 255, 0),
    (0, 255, 255),
    (0, 255, 0),
    (255, 0, 255),
    (255, 0, 0),
    (0, 0, 255),
    (0, 0, 0),
)
"""Eight colour bars across the top eighth of the screen, left to right."""


def entry_region(width: int, height: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the text entry: bottom left, clear of the bars and the checkerboard."""
    return 16, height - 56, max(200, width // 3), 40


def expected_pattern(width: int, height: int) -> RGB:
    """The picture the window draws, as (height, width, 3) RGB.

    Quadrants in :data:`QUADRANT_COLOURS`, eight bars of :data:`BAR_COLOURS`
    over the top eighth, a one-pixel black and white checkerboard (64 x 64)
    at the centre to catch off-by-one errors, and a grey ramp (a photographic
    area for lossy encoders) across the middle of the left half. The entry
    area is drawn too, but is not deterministic: mask it with :func:`pattern_mask`.
    """
    img = np.empty((height, width, 3), dtype=np.uint8)
    half_w, half_h = width // 2, height // 2
    img[:half_h, :half_w] = QUADRANT_COLOURS[0]
    img[:half_h, half_w:] = QUADRANT_COLOURS[1]
    img[half_h:, :half_w] = QUADRANT_COLOURS[2]
    img[half_h:, half_w:] = QUADRANT_COLOURS[3]
    bar_h = height // 8
    for i, colour in enumerate(BAR_COLOURS):
        img[:bar_h, i * width // 8 : (i + 1) * width // 8] = colour
    ramp_y0, ramp_y1 = half_h - height // 16, half_h + height // 16
    ramp = (np.arange(half_w) * 255 // max(half_w - 1, 1)).astype(np.uint8)
    img[ramp_y0:ramp_y1, :half_w] = ramp[None, :, None]
    size = 64
    cx, cy = half_w - size // 2, half_h - size // 2
    yy, xx = np.mgrid[0:size, 0:size]
    checker = np.where(((xx + yy) % 2 == 0)[..., None], 255, 0).astype(np.uint8)
    img[cy : cy + size, cx : cx + size] = checker
    return img


def pattern_mask(width: int, height: int) -> npt.NDArray[np.bool_]:
    """(height, width) booleans: True where the screen must equal :func:`expected_pattern`."""
    mask = np.ones((height, width), dtype=np.bool_)
    x, y, w, h = entry_region(width, height)
    mask[y : y + h, x : x + w] = False
    return mask


class EventLog:
    """Reads the window's JSON-lines log as it grows."""

    def __init__(self, path: Path, proc: "subprocess.Popen[bytes] | None" = None) -> None:
        self.path = path
        self.events: list[Event] = []
        self._proc = proc
        self._offset = 0
        self._partial = b""

    def poll(self) -> list[Event]:
        """Read any new complete lines; return all events so far."""
        if self.path.exists():
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
            self._offset += len(data)
            lines = (self._partial + data).split(b"\n")
            self._partial = lines.pop()
            self.events.extend(json.loads(line) for line in lines if line.strip())
        return self.events

    def mark(self) -> int:
        """A position: pass it as ``after`` to wait only for later events."""
        return len(self.poll())

    def wait_for(
        self, predicate: Callable[[Event], bool], *, after: int = 0, timeout: float = 10.0
    ) -> Event:
        """Return the first event at index >= ``after`` that satisfies ``predicate``.

        Raises:
            AssertionError: none arrived before the deadline, or the window died.
        """
        deadline = time.monotonic() + timeout
        while True:
            for event in self.poll()[after:]:
                if predicate(event):
                    return event
            if self._proc is not None and self._proc.poll() is not None:
                raise AssertionError(f"test window exited ({self._proc.returncode})")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no matching event within {timeout}s; recent: {self.events[-10:]}"
                )
            time.sleep(0.01)

    def wait_text(self, value: str, *, after: int = 0, timeout: float = 10.0) -> Event:
        """Wait until the entry holds exactly ``value``."""
        return self.wait_for(
            lambda e: e["event"] == "text" and e["value"] == value, after=after, timeout=timeout
        )

    def since(self, after: int, kind: str) -> list[Event]:
        """Events of ``kind`` ("key", "click", "text") logged at index >= ``after``."""
        return [e for e in self.poll()[after:] if e["event"] == kind]


@dataclass
class TestWindow:
    """A running test window: its process, its log and the screen size it covers."""

    __test__ = False  # not a pytest test class

    proc: "subprocess.Popen[bytes]"
    log: EventLog
    width: int
    height: int


@contextlib.contextmanager
def running_testwindow(
    display: str, log_path: Path | None = None, *, title: str = "Tasuke test window"
) -> Iterator[TestWindow]:
    """Start the test window on ``display``; yield once it is ready (painted, focused).

    Raises:
        AssertionError: the window did not become ready in time.
    """
    with contextlib.ExitStack() as stack:
        if log_path is None:
            log_path = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "window.jsonl"
        env = xauth_free_env(display)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "tests.support.testwindow"]
        proc = subprocess.Popen(
            [*command, "--log", str(log_path), "--title", title],
            env=env,
            cwd=REPO_ROOT,
        )
        try:
            log = EventLog(log_path, proc)
            ready = log.wait_for(lambda e: e["event"] == "ready", timeout=_READY_TIMEOUT)
            yield TestWindow(proc, log, int(ready["width"]), int(ready["height"]))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _write_ppm(path: Path, rgb: RGB) -> None:
    height, width, _ = rgb.shape
    path.write_bytes(f"P6 {width} {height} 255\n".encode() + rgb.tobytes())


def _run(log_file: TextIO, title: str) -> None:
    import tkinter as tk

    def log(event: Event) -> None:
        log_file.write(json.dumps(event) + "\n")
        log_file.flush()

    root = tk.Tk()
    root.title(title)
    root.overrideredirect(True)
    width, height = root.winfo_screenwidth(), root.winfo_screenheight()
    root.geometry(f"{width}x{height}+0+0")
    with tempfile.TemporaryDirectory() as tmp:
        ppm = Path(tmp) / "pattern.ppm"
        _write_ppm(ppm, expected_pattern(width, height))
        photo = tk.PhotoImage(file=str(ppm))
    picture = tk.Label(root, image=photo, borderwidth=0, highlightthickness=0, padx=0, pady=0)
    picture.place(x=0, y=0, width=width, height=height)
    text = tk.StringVar(root)
    entry = tk.Entry(root, textvariable=text, font=("TkFixedFont", 14))
    ex, ey, ew, eh = entry_region(width, height)
    entry.place(x=ex, y=ey, width=ew, height=eh)

    text.trace_add("write", lambda *_: log({"event": "text", "value": text.get()}))

    def on_key(event: "tk.Event[Any]") -> None:
        log(
            {
                "event": "key",
                "keysym": event.keysym,
                "keysym_num": event.keysym_num,
                "char": event.char,
            }
        )
        if event.keysym == "Escape":
            text.set("")

    def on_button(event: "tk.Event[Any]") -> None:
        log({"event": "click", "x": event.x_root, "y": event.y_root, "button": event.num})

    root.bind_all("<KeyPress>", on_key)
    root.bind_all("<ButtonPress>", on_button)

    announced = False

    def on_focus(_event: "tk.Event[Any]") -> None:
        nonlocal announced
        if not announced:
            announced = True
            root.update_idletasks()
            log({"event": "ready", "width": width, "height": height})

    entry.bind("<FocusIn>", on_focus)

    def take_focus() -> None:
        # Without a window manager nobody else gives us the focus; keep asking
        # until the entry has it (XSetInputFocus fails on an unmapped window).
        if announced:
            return
        if root.winfo_viewable():
            root.focus_force()
            entry.focus_set()
        root.after(20, take_focus)

    root.after_idle(take_focus)
    root.mainloop()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m tests.support.testwindow``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", required=True, type=Path, help="JSON-lines file to append to")
    parser.add_argument("--title", default="Tasuke test window")
    args = parser.parse_args(argv)
    with args.log.open("a", encoding="utf-8") as log_file:
        _run(log_file, args.title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
