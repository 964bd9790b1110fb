"""Run the server under uvicorn: websockets' Sans-I/O protocol, uvloop where available."""

import asyncio
import importlib.util
import socket
import sys

import uvicorn

from tasuke import limits
from tasuke.server.app import create_app, prepare
from tasuke.server.settings import Settings

__all__ = ["run", "uvicorn_config"]


def _loop() -> str:
    return "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"


def uvicorn_config(app: object, settings: Settings, *, log_level: str = "info") -> uvicorn.Config:
    """The uvicorn configuration that the limits and settings call for."""
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.host,
        port=settings.port,
        loop=_loop(),
        ws="websockets-sansio",
        # The protocol layer refuses bigger frames itself (close 1009) before buffering them.
        ws_max_size=max(limits.MAX_BINARY_FRAME, limits.MAX_TEXT_FRAME),
        ws_ping_interval=limits.PING_INTERVAL,
        ws_ping_timeout=limits.PING_TIMEOUT,
        ws_per_message_deflate=False,  # E2E records do not compress; deflate only costs memory
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
        server_header=False,
        log_level=log_level,
        lifespan="on",
    )


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, url: str) -> None:
        super().__init__(config)
        self._url = url

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(f"Tasuke server listening on {self._url}", flush=True)


def run(settings: Settings) -> int:
    """Prepare the data folder, print the first admin's password if new, serve until stopped."""
    password = asyncio.run(prepare(settings))
    if password is not None:
        print("Created the first operator: admin (change the password at first sign-in)")
        print(f"one-time password: {password}", flush=True)
    server = _Server(uvicorn_config(create_app(settings), settings), settings.url)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run(Settings()))
