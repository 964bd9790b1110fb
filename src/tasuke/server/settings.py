"""Server settings: one frozen dataclass built from the command line.

Everything that depends on how the server is reached (cookie names, the Secure flag, HSTS, the
WebSocket origin check, the CSP) is derived here from the public URL, in one place, so that the
pieces cannot disagree.
"""

import ipaddress
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tasuke.errors import ConfigError

__all__ = ["DEFAULT_LISTEN", "Settings", "parse_listen"]

DEFAULT_LISTEN = "127.0.0.1:8080"


def parse_listen(value: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (``[::1]:8080`` for IPv6) into host and port.

    Raises:
        ConfigError: the value is not a host and a port in 1..65535.
    """
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ConfigError(f"--listen must be HOST:PORT, got {value!r}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ConfigError(f"--listen port out of range: {port}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def _url_host(host: str) -> str:
    """Return ``host`` as it must appear in a URL (IPv6 in brackets)."""
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


@dataclass(frozen=True)
class Settings:
    """What the server needs to know to start; see ``tasuke server --help``."""

    listen: str = DEFAULT_LISTEN
    data_dir: Path = Path("./data")
    public_url: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    organisation: str = "Tasuke"
    trusted_proxies: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        parse_listen(self.listen)
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("--tls-cert and --tls-key must be given together")
        for path in (self.tls_cert, self.tls_key):
            if path is not None and not path.is_file():
                raise ConfigError(f"TLS file not found: {path}")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"--public-url must be an http(s) URL, got {self.url!r}")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(
                "--public-url must not have a path (serving under a prefix is not supported)"
            )
        if not self.organisation.strip():
            raise ConfigError("--organisation must not be empty")

    @property
    def host(self) -> str:
        """The address to bind."""
        return parse_listen(self.listen)[0]

    @property
    def port(self) -> int:
        """The TCP port to bind."""
        return parse_listen(self.listen)[1]

    @property
    def tls(self) -> bool:
        """Whether this process terminates TLS itself."""
        return self.tls_cert is not None

    @property
    def url(self) -> str:
        """The public URL without a trailing slash (given, or derived from ``listen``)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - we only name it, never bind it here
            host = socket.getfqdn()
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{_url_host(host)}:{self.port}"

    @property
    def origin(self) -> str:
        """The browser origin of the public URL, as sent in an ``Origin`` header."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def secure(self) -> bool:
        """Browsers reach us over TLS (here or at a reverse proxy): Secure cookies, HSTS, wss."""
        return urlsplit(self.url).scheme == "https"

    @property
    def ws_origin(self) -> str:
        """The WebSocket origin that the console page connects to (for the CSP)."""
        parts = urlsplit(self.url)
        return f"{'wss' if self.secure else 'ws'}://{parts.netloc}".lower()

    @property
    def session_cookie(self) -> str:
        """Name of the sign-in cookie; ``__Host-`` pins it to this host over TLS."""
        return "__Host-tasuke_session" if self.secure else "tasuke_session"

    @property
    def login_csrf_cookie(self) -> str:
        """Name of the cookie that carries the login form's CSRF token."""
        return "__Host-tasuke_login" if self.secure else "tasuke_login"

    @property
    def database_path(self) -> Path:
        """The SQLite file inside the data folder."""
        return self.data_dir / "tasuke.sqlite3"

    @property
    def signing_key_path(self) -> Path:
        """The server's Ed25519 private key (PEM, mode 0600)."""
        return self.data_dir / "server-signing-key.pem"
