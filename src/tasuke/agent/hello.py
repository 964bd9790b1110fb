"""Everything the agent says before the session starts, and how it finds the server.

Pure helpers: the session number as the customer typed it, the WebSocket URL
derived from the server URL, the TLS context, the hello message, and the
cleaning of remote text before it reaches a terminal or a window.
"""

import platform
import socket
import ssl
import unicodedata
import urllib.parse
from pathlib import Path
from typing import Any

from tasuke import __version__, limits
from tasuke.errors import ConfigError

__all__ = [
    "agent_ws_url",
    "build_hello",
    "clean_text",
    "format_number",
    "normalise_number",
    "os_pretty_name",
    "tls_context",
]

_NUMBER_SEPARATORS = str.maketrans("", "", " -\u3000\u2010\u2011\u2012\u2013\u2212\u30fc")
# Bidirectional overrides and isolates can make a name read differently from
# what was signed; zero-width characters can hide text. Drop them for display.
_INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
)


def normalise_number(raw: str) -> str:
    """Return the 9-digit session number from what the customer typed.

    Spaces and hyphens (ASCII and the Japanese-keyboard variants) are removed;
    full-width digits become ASCII digits.

    Raises:
        ConfigError: anything other than exactly 9 digits remains.
    """
    text = unicodedata.normalize("NFKC", raw).translate(_NUMBER_SEPARATORS)
    if len(text) != limits.SESSION_NUMBER_DIGITS or not (text.isascii() and text.isdigit()):
        raise ConfigError(
            "セッション番号は9桁の数字です (例: 123 456 789)。\n"
            "The session number has 9 digits (for example 123 456 789)."
        )
    return text


def format_number(number: str) -> str:
    """Show a 9-digit number as ``123 456 789``."""
    return f"{number[:3]} {number[3:6]} {number[6:]}"


def agent_ws_url(server: str) -> str:
    """Map the server URL the customer was given to its agent WebSocket URL.

    http becomes ws and https becomes wss; any path on the server URL is kept
    as a prefix (a server behind a reverse proxy at /support/).

    Raises:
        ConfigError: not an http or https URL with a host.
    """
    parts = urllib.parse.urlsplit(server.strip())
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise ConfigError(
            f"サーバーのアドレスは http:// または https:// で始まります: {server!r}\n"
            f"The server address must start with http:// or https://: {server!r}"
        )
    path = parts.path.rstrip("/") + "/ws/agent"
    return urllib.parse.urlunsplit((scheme, parts.netloc, path, "", ""))


def tls_context(ws_url: str, ca_cert: str | None) -> ssl.SSLContext | None:
    """Return the TLS context for ``wss`` URLs (None for plain ``ws``).

    Certificates are always verified, against the system store or, with
    ``ca_cert``, against a private CA. There is deliberately no way to turn
    verification off.

    Raises:
        ConfigError: ``ca_cert`` given for a plain ws URL, or unreadable.
    """
    if not ws_url.startswith("wss:"):
        if ca_cert is not None:
            raise ConfigError("--ca-cert needs an https:// server address")
        return None
    try:
        return ssl.create_default_context(cafile=ca_cert)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot read the CA certificate {ca_cert}: {exc}") from exc


def os_pretty_name(os_release: Path = Path("/etc/os-release")) -> str:
    """The operating system's name as its vendor writes it, for the console."""
    try:
        for line in os_release.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "PRETTY_NAME":
                return value.strip().strip("\"'")
    except OSError:
        pass
    return platform.platform(terse=True)


def build_hello(number: str, screen: tuple[int, int]) -> dict[str, Any]:
    """The agent's first frame (docs/protocol.md, 1.1)."""
    return {
        "type": "hello",
        "role": "agent",
        "version": 1,
        "join": number,
        "agent": {
            "os": os_pretty_name(),
            "hostname": socket.gethostname(),
            "screen": [screen[0], screen[1]],
            "agent_version": __version__,
        },
    }


def clean_text(text: str, max_len: int = 200) -> str:
    """Make remote text safe to print: no control, bidi or invisible characters.

    A server message printed raw could carry terminal escape sequences; a name
    with a right-to-left override could read as someone else.
    """
    kept = [
        " " if ch in "\t\r\n" else ch
        for ch in text
        if ch in "\t\r\n"
        or (unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co") and ch not in _INVISIBLE)
    ]
    out = "".join(kept).strip()
    return out if len(out) <= max_len else out[: max_len - 1] + "…"
