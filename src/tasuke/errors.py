"""The exception tree of Tasuke.

Every exception that Tasuke raises on purpose derives from :class:`TasukeError`.
Third-party exceptions are translated into this tree at one boundary per package
(the WebSocket adapters, the database layer, the X11 backend), so callers never
need to know which library sat underneath.

::

    TasukeError
    ├── LocalError                 our own misuse: a bug or a bad configuration
    │   └── ConfigError            settings that cannot work (bad address, missing file)
    ├── DesktopError               the desktop backend failed (display gone, request refused)
    └── RemoteError                a peer broke the rules; that connection is closed
        ├── ProtocolError          malformed or unexpected bytes or messages
        │   ├── E2EError           end-to-end handshake or record failure (tasuke.e2e)
        │   └── RFBError           RFB protocol violation (tasuke.rfb)
        ├── LimitExceeded          a named limit from tasuke.limits was exceeded
        └── Refused                authentication, authorisation or consent said no

``RemoteError`` carries a short ``reason`` meant for the peer and the log; it
never contains secrets.
"""

__all__ = [
    "ConfigError",
    "DesktopError",
    "E2EError",
    "LimitExceeded",
    "LocalError",
    "ProtocolError",
    "RFBError",
    "Refused",
    "RemoteError",
    "TasukeError",
]


class TasukeError(Exception):
    """Root of every exception that Tasuke raises on purpose."""


class LocalError(TasukeError):
    """Our own misuse: a programming error or an impossible configuration."""


class ConfigError(LocalError):
    """A setting that cannot work, reported before anything starts."""


class DesktopError(TasukeError):
    """The operating system's display or input refused us or went away.

    Neither our misuse nor a peer's fault: the X server closed the connection,
    or a capture or injection request failed. The session using it must end.
    """


class RemoteError(TasukeError):
    """A peer broke the rules; the connection to that peer must be closed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProtocolError(RemoteError):
    """Malformed or unexpected bytes or messages from a peer."""


class E2EError(ProtocolError):
    """The end-to-end handshake or a record failed; the session must end."""


class RFBError(ProtocolError):
    """The RFB peer sent something RFC 6143 does not allow."""


class LimitExceeded(RemoteError):
    """A named limit (see tasuke.limits) was exceeded by a peer."""


class Refused(RemoteError):
    """Authentication, authorisation or consent refused the request."""
