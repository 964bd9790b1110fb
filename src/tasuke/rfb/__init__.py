"""The screen engine: an RFB 3.8 server (RFC 6143) without I/O, plus a thin asyncio runner.

:class:`tasuke.rfb.server.RFBServer` is the protocol core; :func:`tasuke.rfb.session.serve_rfb`
drives it over any byte stream (a TCP socket for ``tasuke vnc``, E2E channel 1 for the agent).
"""

from tasuke.rfb.server import RFBServer
from tasuke.rfb.session import ByteStream, serve_rfb

__all__ = ["ByteStream", "RFBServer", "serve_rfb"]
