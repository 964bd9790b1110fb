"""Small helpers for tests that look at or poke an X display."""

import shutil
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

import mss
import numpy as np
import numpy.typing as npt
from Xlib import X
from Xlib import display as xdisplay

from tests.support.xvfb import xauth_free_env

__all__ = [
    "held_buttons",
    "held_keycodes",
    "keysym_keycodes",
    "screenshot",
    "wait_until",
    "xdotool",
]

T = TypeVar("T")


def screenshot(display: str) -> npt.NDArray[np.uint8]:
    """The whole screen of ``display`` as a (height, width, 3) RGB array (a copy)."""
    with mss.MSS(display=display) as sct:
        shot = sct.grab(sct.monitors[0])
        bgrx = np.frombuffer(shot.raw, dtype=np.uint8).reshape(shot.height, shot.width, 4)
        return np.ascontiguousarray(bgrx[..., 2::-1])


def wait_until(
    condition: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.01, what: str = ""
) -> T:
    """Call ``condition`` until it returns something truthy; return that value.

    Raises:
        AssertionError: still falsy at the deadline (``what`` says what we waited for).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def xdotool(display: str, *args: str, timeout: float = 10.0) -> str:
    """Run ``xdotool ARGS`` against ``display``; return its stdout.

    Raises:
        AssertionError: xdotool is missing or failed.
    """
    exe = shutil.which("xdotool")
    if exe is None:
        raise AssertionError("xdotool is not installed (Debian package xdotool)")
    done = subprocess.run(
        [exe, *args],
        env=xauth_free_env(display),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"xdotool {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def held_keycodes(display: str) -> set[int]:
    """Keycodes the X server currently considers pressed."""
    conn = xdisplay.Display(display)
    try:
        bitmap = conn.query_keymap()
    finally:
        conn.close()
    return {
        byte * 8 + bit for byte, bits in enumerate(bitmap) for bit in range(8) if bits >> bit & 1
    }


def keysym_keycodes(display: str, keysym: int) -> list[int]:
    """Keycodes that carry ``keysym`` in the current keyboard map (any column)."""
    conn = xdisplay.Display(display)
    try:
        return sorted({code for code, _index in conn.keysym_to_keycodes(keysym)})
    finally:
        conn.close()


def held_buttons(display: str) -> int:
    """The pointer's button state mask (X.Button1Mask ... X.Button5Mask)."""
    conn = xdisplay.Display(display)
    try:
        mask = int(conn.screen().root.query_pointer().mask)
    finally:
        conn.close()
    return mask & (X.Button1Mask | X.Button2Mask | X.Button3Mask | X.Button4Mask | X.Button5Mask)
