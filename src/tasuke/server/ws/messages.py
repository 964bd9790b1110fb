"""Control-plane messages (docs/protocol.md section 1): parsing and validation without I/O.

Each endpoint may send only the message types listed in its table below; anything else is a
protocol violation (default deny, the rule lives next to the dispatch). Agent-supplied strings are
cut to a named limit and stripped of control characters before they are stored or shown.
"""

import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tasuke import limits
from tasuke.errors import LimitExceeded, ProtocolError

__all__ = [
    "PROTOCOL_VERSION",
    "AgentConsent",
    "ConsoleVerified",
    "End",
    "FrameTooBig",
    "Hello",
    "Message",
    "check_binary",
    "normalise_number",
    "parse_agent_message",
    "parse_console_message",
    "parse_hello",
    "parse_object",
    "sanitise_agent_info",
]

PROTOCOL_VERSION = 1
CONSENT_DECISIONS = frozenset({"granted", "denied"})
CONSENT_SCOPES = frozenset({"control", "view"})
CONSENT_REASONS = frozenset({"user", "timeout", "window_closed"})


class FrameTooBig(LimitExceeded):
    """A frame larger than its named limit (WebSocket close code 1009)."""


@dataclass(frozen=True)
class Hello:
    """The agent's first message: which number it joins and what it says about itself."""

    join: str
    agent: dict[str, Any]


@dataclass(frozen=True)
class AgentConsent:
    """A consent decision reported by the agent, for the session's consent record."""

    decision: str
    scope: str | None
    reason: str


@dataclass(frozen=True)
class End:
    """An endpoint ends the session."""

    reason: str


@dataclass(frozen=True)
class ConsoleVerified:
    """The operator confirmed that both verification codes match."""


Message = AgentConsent | End | ConsoleVerified


def clean_text(value: str, limit: int) -> str:
    """Cut ``value`` to ``limit`` characters and drop control and format characters."""
    kept = (ch for ch in value if unicodedata.category(ch)[0] != "C" or ch == " ")
    return "".join(kept)[:limit]


def check_binary(data: bytes) -> None:
    """Raises: FrameTooBig: the binary frame exceeds ``MAX_BINARY_FRAME``."""
    if len(data) > limits.MAX_BINARY_FRAME:
        raise FrameTooBig("binary frame too large")


def parse_object(text: str) -> dict[str, Any]:
    """Decode one control frame into a JSON object with a string ``type``.

    Raises:
        FrameTooBig: the frame exceeds ``MAX_TEXT_FRAME`` bytes.
        ProtocolError: not JSON, not an object, or no string ``type``.
    """
    if len(text) > limits.MAX_TEXT_FRAME or len(text.encode("utf-8", "replace")) > (
        limits.MAX_TEXT_FRAME
    ):
        raise FrameTooBig("text frame too large")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("invalid JSON") from exc
    if not isinstance(value, dict):
        raise ProtocolError("message is not a JSON object")
    if not isinstance(value.get("type"), str):
        raise ProtocolError("message has no type")
    return value


def normalise_number(value: str) -> str:
    """Drop the spaces and hyphens that people type into session numbers."""
    return value.replace(" ", "").replace("-", "")


def sanitise_agent_info(value: object) -> dict[str, Any]:
    """Keep the known agent fields, cut strings, drop anything malformed.

    Raises:
        ProtocolError: ``agent`` is not an object.
    """
    if not isinstance(value, dict):
        raise ProtocolError("agent must be an object")
    info: dict[str, Any] = {}
    for key in ("os", "hostname", "agent_version"):
        field = value.get(key)
        if isinstance(field, str):
            info[key] = clean_text(field, limits.MAX_AGENT_STRING)
    screen = value.get("screen")
    if (
        isinstance(screen, list)
        and len(screen) == 2
        and all(
            isinstance(n, int) and not isinstance(n, bool) and 0 < n <= limits.MAX_FRAMEBUFFER_DIM
            for n in screen
        )
    ):
        info["screen"] = [screen[0], screen[1]]
    return info


def parse_hello(message: dict[str, Any]) -> Hello:
    """Validate the agent's hello.

    Raises:
        ProtocolError: not a hello, wrong role or version, or malformed fields.
    """
    if message["type"] != "hello":
        raise ProtocolError("expected hello")
    if message.get("role") != "agent":
        raise ProtocolError("hello role must be agent")
    version = message.get("version")
    # `True == 1` and `1.0 == 1` in Python: only the integer itself is version 1.
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise ProtocolError("unsupported protocol version")
    join = message.get("join")
    if not isinstance(join, str) or len(join) > 64:
        raise ProtocolError("join must be a session number string")
    return Hello(join=normalise_number(join), agent=sanitise_agent_info(message.get("agent", {})))


def _end(message: dict[str, Any]) -> End:
    reason = message.get("reason", "")
    if not isinstance(reason, str):
        raise ProtocolError("end reason must be a string")
    return End(reason=clean_text(reason, limits.MAX_END_REASON))


def _one_of(message: dict[str, Any], key: str, allowed: frozenset[str], default: object) -> str:
    # Type first: a list or object from a hostile peer must not reach the (hashing) set lookup.
    value = message.get(key, default)
    if not isinstance(value, str) or value not in allowed:
        raise ProtocolError(f"consent {key} must be one of {', '.join(sorted(allowed))}")
    return value


def _agent_consent(message: dict[str, Any]) -> AgentConsent:
    decision = _one_of(message, "decision", CONSENT_DECISIONS, None)
    reason = _one_of(message, "reason", CONSENT_REASONS, "user")
    scope = message.get("scope")
    if decision == "denied":
        if scope is not None:
            raise ProtocolError("denied consent has no scope")
        return AgentConsent(decision=decision, scope=None, reason=reason)
    if not isinstance(scope, str) or scope not in CONSENT_SCOPES:
        raise ProtocolError("granted consent needs scope control or view")
    return AgentConsent(decision=decision, scope=scope, reason=reason)


def _console_verified(message: dict[str, Any]) -> ConsoleVerified:
    return ConsoleVerified()


# The whole permission rule: what each leg may say after the opening. Not listed: refused.
_AGENT_MESSAGES: dict[str, Callable[[dict[str, Any]], Message]] = {
    "consent": _agent_consent,
    "end": _end,
}
_CONSOLE_MESSAGES: dict[str, Callable[[dict[str, Any]], Message]] = {
    "end": _end,
    "verified": _console_verified,
}


def parse_agent_message(message: dict[str, Any]) -> Message:
    """Validate a control message from the agent after the welcome.

    Raises:
        ProtocolError: an unknown type or malformed fields.
    """
    parser = _AGENT_MESSAGES.get(message["type"])
    if parser is None:
        raise ProtocolError("unknown message type")
    return parser(message)


def parse_console_message(message: dict[str, Any]) -> Message:
    """Validate a control message from the console.

    Raises:
        ProtocolError: an unknown type or malformed fields.
    """
    parser = _CONSOLE_MESSAGES.get(message["type"])
    if parser is None:
        raise ProtocolError("unknown message type")
    return parser(message)
