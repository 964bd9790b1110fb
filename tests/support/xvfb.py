"""Start a real Xvfb display for tests that need X11."""

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

__all__ = ["xauth_free_env", "xvfb"]

_XVFB_START_TIMEOUT = 15.0


@contextlib.contextmanager
def xvfb(width: int = 1024, height: int = 768, depth: int = 24) -> Iterator[str]:
    """Run Xvfb on a free display number; yield the DISPLAY string (":N").

    Xvfb picks the display itself (-displayfd) so parallel runs never collide.
    """
    exe = shutil.which("Xvfb")
    if exe is None:
        raise RuntimeError("Xvfb is not installed; `make test` installs it (package xvfb)")
    read_fd, write_fd = os.pipe()
    # Each option beside its value reads better than one word per line.
    # fmt: off
    proc = subprocess.Popen(
        [
            exe,
            "-displayfd", str(write_fd),
            "-screen", "0", f"{width}x{height}x{depth}",
            "-nolisten", "tcp",
            "+extension", "XFIXES",
            "+extension", "DAMAGE",
            "+extension", "XTEST",
            "-noreset",
        ],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # fmt: on
    os.close(write_fd)
    try:
        deadline = time.monotonic() + _XVFB_START_TIMEOUT
        data = b""
        with os.fdopen(read_fd, "rb") as pipe:
            while not data.endswith(b"\n"):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("Xvfb did not start")
                chunk = pipe.read(1)
                if not chunk:
                    raise RuntimeError("Xvfb exited before reporting its display")
                data += chunk
        display = ":" + data.decode().strip()
        yield display
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def xauth_free_env(display: str) -> dict[str, str]:
    """Environment for a child process that should draw on ``display``."""
    env = dict(os.environ)
    env["DISPLAY"] = display
    env.pop("XAUTHORITY", None)
    env.setdefault("HOME", tempfile.gettempdir())
    return env
