"""A third-party RFB client (vncdotool) against `tasuke vnc` on a real Xvfb display."""

import contextlib
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.support.testwindow import (
    TestWindow,
    expected_pattern,
    pattern_mask,
    running_testwindow,
)
from tests.support.xtools import screenshot
from tests.support.xvfb import xauth_free_env, xvfb

pytestmark = [pytest.mark.x11, pytest.mark.timeout(120)]

WIDTH, HEIGHT = 640, 480
_START_TIMEOUT = 20.0
_TASUKE = (sys.executable, "-m", "tasuke.cli")
_VNCDO = Path(sys.executable).with_name("vncdo")


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with xvfb(WIDTH, HEIGHT) as name:
        yield name


@pytest.fixture
def window(display: str, tmp_path: Path) -> Iterator[TestWindow]:
    with running_testwindow(display, tmp_path / "window.jsonl") as win:
        yield win


@contextlib.contextmanager
def tasuke_vnc(display: str, *extra: str) -> Iterator[int]:
    """Run `tasuke vnc` on a free loopback port; yield the port once it listens."""
    proc = subprocess.Popen(
        [*_TASUKE, "vnc", "--display", display, "--listen", "127.0.0.1:0", *extra],
        env=xauth_free_env(display),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + _START_TIMEOUT
        line = b""
        while not line.endswith(b"\n"):
            ready, _, _ = select.select(
                [proc.stdout], [], [], max(0.0, deadline - time.monotonic())
            )
            if not ready or proc.poll() is not None:
                raise AssertionError("tasuke vnc did not start listening")
            line += os.read(proc.stdout.fileno(), 1)
        match = re.fullmatch(rb"tasuke vnc listening on 127\.0\.0\.1:(\d+)\n", line)
        assert match, line
        yield int(match.group(1))
        assert proc.poll() is None, "tasuke vnc died while serving"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def vncdo(port: int, *commands: str) -> None:
    """Run one vncdotool session (its own connection) with ``commands``."""
    done = subprocess.run(
        [str(_VNCDO), "-s", f"127.0.0.1::{port}", "--nocursor", *commands],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_vncdotool_sees_exactly_the_x_display(
    display: str, window: TestWindow, tmp_path: Path
) -> None:
    capture = tmp_path / "capture.png"
    with tasuke_vnc(display) as port:
        vncdo(port, "capture", str(capture))
    seen = np.asarray(Image.open(capture).convert("RGB"))
    truth = screenshot(display)
    assert seen.shape == (HEIGHT, WIDTH, 3)
    # The text entry's caret blinks, so only the rest of the screen is deterministic.
    mask = pattern_mask(WIDTH, HEIGHT)
    assert np.array_equal(seen[mask], truth[mask])
    assert np.array_equal(seen[mask], expected_pattern(WIDTH, HEIGHT)[mask])


def test_keys_and_clicks_from_vncdotool_reach_the_x_window(
    display: str, window: TestWindow
) -> None:
    log = window.log
    start = log.mark()
    with tasuke_vnc(display) as port:
        vncdo(port, "move", "300", "100", "click", "1", "type", "Hello World!")
        log.wait_text("Hello World!", after=start)
    [click] = log.since(start, "click")
    assert (click["x"], click["y"], click["button"]) == (300, 100, 1)


def test_view_only_drops_keys_and_clicks(display: str, window: TestWindow, tmp_path: Path) -> None:
    log = window.log
    start = log.mark()
    with tasuke_vnc(display, "--view-only") as port:
        # the capture comes after the input on the same connection, so the input was handled
        vncdo(
            port,
            "move",
            "200",
            "50",
            "click",
            "1",
            "type",
            "nope",
            "capture",
            str(tmp_path / "after.png"),
        )
    with tasuke_vnc(display) as port:
        vncdo(port, "move", "400", "60", "click", "3", "type", "yes")
        log.wait_text("yes", after=start)
    clicks = [(e["x"], e["y"], e["button"]) for e in log.since(start, "click")]
    assert clicks == [(400, 60, 3)]
    assert [e["value"] for e in log.since(start, "text")][-1] == "yes"
    assert [e["char"] for e in log.since(start, "key")] == ["y", "e", "s"]
