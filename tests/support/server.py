"""Run the real ``tasuke server`` as a subprocess for integration and browser tests.

    with running_server(tmp_path) as server:
        with server.client() as client:
            csrf = server.login(client)          # signed in as admin
            client.post("/api/sessions", headers={"X-CSRF-Token": csrf})

The admin's one-time password has already been replaced by :data:`ADMIN_PASSWORD` (by signing in
once over HTTP), so tests and browsers sign in with a known password.
"""

import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "ADMIN_PASSWORD",
    "FakeClock",
    "InProcessServer",
    "RunningServer",
    "csrf_from",
    "free_port",
    "running_server",
    "serve_in_process",
]

ADMIN_PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
_OTP = re.compile(r"one-time password: (\S+)")
_READY = re.compile(r"Tasuke server listening on (\S+)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def csrf_from(html: str) -> str:
    """The CSRF token in a page's ``<meta name="csrf-token">``."""
    match = _CSRF.search(html)
    if match is None:
        raise AssertionError("page has no csrf-token meta tag")
    return match.group(1)


def tasuke_command(*args: str) -> list[str]:
    """The argv that runs ``tasuke ARGS`` with this interpreter."""
    return [sys.executable, "-m", "tasuke.cli", *args]


@dataclass
class RunningServer:
    """A started server: where it is and how to sign in to it."""

    url: str
    data_dir: Path
    process: subprocess.Popen[str]
    verify: ssl.SSLContext | bool = True
    admin_password: str = ADMIN_PASSWORD
    first_password: str = ""
    output: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        """The browser origin of the server (for the Origin header)."""
        return self.url

    @property
    def ws_url(self) -> str:
        """The WebSocket base URL (ws:// or wss://)."""
        return "ws" + self.url.removeprefix("http")

    def client(self, **kwargs: object) -> httpx.Client:
        """An HTTP client for this server that does not follow redirects."""
        return httpx.Client(base_url=self.url, verify=self.verify, timeout=10, **kwargs)  # type: ignore[arg-type]

    def login(
        self, client: httpx.Client, username: str = "admin", password: str | None = None
    ) -> str:
        """Sign ``client`` in and return the CSRF token of the sign-in session."""
        page = client.get("/login")
        response = client.post(
            "/login",
            data={
                "username": username,
                "password": password or self.admin_password,
                "csrf_token": csrf_from(page.text),
            },
        )
        if response.status_code != 303:
            raise AssertionError(f"sign-in failed: {response.status_code} {response.text[:200]}")
        target = response.headers["location"]
        return csrf_from(client.get(target).text)

    def session_cookie(self, client: httpx.Client) -> str:
        """The ``Cookie`` header value the client would send (for WebSocket clients)."""
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``tasuke ARGS --data-dir DATA`` against this server's data folder."""
        return subprocess.run(
            [*tasuke_command(*args), "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def wait_for_output(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait until a line of the server's output matches ``pattern``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.output):
                match = regex.search(line)
                if match:
                    return match
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no output matching {pattern!r}:\n" + "".join(self.output[-40:]))


def _pump(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)


def set_first_password(server: RunningServer) -> None:
    """Sign in with the one-time password and choose :data:`ADMIN_PASSWORD`."""
    with server.client() as client:
        csrf = server.login(client, password=server.first_password)
        response = client.post(
            "/password",
            data={"password": ADMIN_PASSWORD, "password2": ADMIN_PASSWORD, "csrf_token": csrf},
        )
        if response.status_code != 303:
            raise AssertionError(f"could not set the admin password: {response.text[:300]}")


@contextmanager
def running_server(
    tmp_path: Path,
    *,
    tls: tuple[Path, Path] | None = None,
    organisation: str | None = None,
    extra_args: Sequence[str] = (),
    data_dir: Path | None = None,
    set_password: bool = True,
    start_timeout: float = 30.0,
    public_host: str = "127.0.0.1",
) -> Iterator[RunningServer]:
    """Start ``tasuke server`` on a free loopback port; stop it when the block ends.

    ``tls`` is (certificate, key); the certificate is then also what the client trusts
    (``server.verify`` is an SSL context for httpx and ``websockets``). ``public_host`` names
    the server in its public URL (``localhost`` for WebAuthn: browsers refuse an IP address as
    the relying party id); it always listens on 127.0.0.1.
    """
    data = data_dir or tmp_path / "data"
    port = free_port()
    scheme = "https" if tls else "http"
    url = f"{scheme}://{public_host}:{port}"
    args = ["server", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)]
    args += ["--public-url", url]
    if tls:
        args += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    if organisation:
        args += ["--organisation", organisation]
    process = subprocess.Popen(
        [*tasuke_command(*args), *extra_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    server = RunningServer(
        url=url,
        data_dir=data,
        process=process,
        verify=ssl.create_default_context(cafile=str(tls[0])) if tls else True,
    )
    pump = threading.Thread(target=_pump, args=(process, server.output), daemon=True)
    pump.start()
    try:
        server.wait_for_output(_READY.pattern, start_timeout)
        first = [m.group(1) for line in server.output if (m := _OTP.search(line))]
        if first:
            server.first_password = first[0]
            if set_password:
                set_first_password(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        pump.join(5)
        if process.stdout is not None:
            process.stdout.close()


# --- the same server in this test's event loop, with an injected clock -------------------------


class FakeClock:
    """A clock that moves only when the test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


@dataclass
class InProcessServer:
    """A real uvicorn serving ``create_app`` on a loopback socket inside the test's loop."""

    url: str
    clock: FakeClock
    app: object
    admin_password: str
    uvicorn_server: Any = None
    task: Any = None

    async def stop(self) -> None:
        """Shut the server down now (as SIGTERM would) and wait until it has stopped."""
        self.uvicorn_server.should_exit = True
        await self.task

    @property
    def ws_url(self) -> str:
        """The WebSocket base URL."""
        return "ws" + self.url.removeprefix("http")

    @property
    def state(self):  # type: ignore[no-untyped-def]
        """The app's ServerState (store, tickets, registry, signing key)."""
        return self.app.state.tasuke  # type: ignore[attr-defined]

    async def admin_id(self) -> int:
        """The id of the admin operator."""
        operator = await self.state.store.operator_by_username("admin")
        return int(operator.id)

    async def new_session(self):  # type: ignore[no-untyped-def]
        """Create a support session as the admin; returns the SupportSession row."""
        return await self.state.store.create_session(await self.admin_id())

    async def ticket(self, session_id: str) -> str:
        """Mint a console ticket directly (what POST /api/sessions/{id}/ticket does)."""
        return str(self.state.tickets.mint(session_id, await self.admin_id()))


@asynccontextmanager
async def serve_in_process(
    tmp_path: Path, *, clock: FakeClock | None = None
) -> AsyncIterator[InProcessServer]:
    """Start the server app under uvicorn in the running event loop; stop it afterwards."""
    import asyncio

    import uvicorn

    from tasuke.server.app import create_app, prepare
    from tasuke.server.runner import uvicorn_config
    from tasuke.server.settings import Settings

    clock = clock or FakeClock()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings = Settings(listen=f"127.0.0.1:{port}", data_dir=tmp_path / "data", public_url=url)
    password = await prepare(settings, clock=clock)
    app = create_app(settings, clock=clock)
    server = uvicorn.Server(uvicorn_config(app, settings, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise AssertionError("in-process server did not start")
        await asyncio.sleep(0.01)
    try:
        yield InProcessServer(
            url=url,
            clock=clock,
            app=app,
            admin_password=password or "",
            uvicorn_server=server,
            task=task,
        )
    finally:
        server.should_exit = True
        await task
        sock.close()
