"""Child processes the browser tests drive: the customer's agent (`tasuke join`).

Output is read on a thread into a list, so a test can wait for a line with a deadline
instead of sleeping.
"""

import contextlib
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

__all__ = ["AgentProcess", "tasuke_exe"]

_STOP_TIMEOUT = 10.0


def tasuke_exe() -> str:
    """The `tasuke` console script of the running virtual environment."""
    exe = Path(sys.executable).parent / "tasuke"
    if not exe.exists():
        raise RuntimeError(f"{exe} is missing: run `make install-dev`")
    return str(exe)


class AgentProcess:
    """`tasuke join NUMBER --server URL ...` with stdin for the terminal prompt."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.args = args
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            [tasuke_exe(), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**env, "PYTHONUNBUFFERED": "1"},
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self._lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def output(self) -> str:
        """Everything the agent printed so far (stdout and stderr)."""
        with self._cond:
            return "\n".join(self._lines)

    def mark(self) -> int:
        """A position in the output: pass it as ``after`` to look only at later lines."""
        with self._cond:
            return len(self._lines)

    def wait_for(self, pattern: str, timeout: float = 20.0, *, after: int = 0) -> re.Match[str]:
        """Wait until a line (at index >= ``after``) matches ``pattern``.

        Raises:
            AssertionError: no such line before the deadline (with the output so far).
        """
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._lines[after:]:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    out = "\n".join(self._lines)
                    raise AssertionError(
                        f"agent printed no line matching {pattern!r} "
                        f"(exit={self.proc.poll()}):\n{out}"
                    )
                self._cond.wait(min(left, 0.2))

    def type_line(self, text: str) -> None:
        """Type one line into the agent's terminal prompt."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def wait_exit(self, timeout: float = _STOP_TIMEOUT) -> int:
        """Wait for the agent to exit on its own; return its exit status."""
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        """End the agent if it still runs (terminate, then kill)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        self._reader.join(timeout=_STOP_TIMEOUT)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
