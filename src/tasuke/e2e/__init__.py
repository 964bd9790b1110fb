"""The end-to-end channel between the customer's agent and the operator's console.

Sans-I/O: :class:`E2ESession` turns frames into events and calls into frames; it imports only
the standard library and ``cryptography``. The wire format is normative in docs/protocol.md
section 2; the JS twin is ``tasuke/server/static/js/e2e.js``.
"""

from tasuke.e2e._state import Role
from tasuke.e2e.events import ChannelData, Event, HandshakeComplete
from tasuke.e2e.session import DEFAULT_SUITES, E2ESession
from tasuke.e2e.wire import CHANNEL_CONTROL, CHANNEL_RFB, Suite

__all__ = [
    "CHANNEL_CONTROL",
    "CHANNEL_RFB",
    "DEFAULT_SUITES",
    "ChannelData",
    "E2ESession",
    "Event",
    "HandshakeComplete",
    "Role",
    "Suite",
]
