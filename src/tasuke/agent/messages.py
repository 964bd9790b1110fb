"""Parsing what the server and the console say, and the customer-facing texts about it.

Every text here is shown to the customer, in Japanese and English. Remote
strings are cleaned (:func:`tasuke.agent.hello.clean_text`) before they are
printed, so a server message cannot carry terminal escape sequences.
"""

import json
from dataclasses import dataclass
from typing import Any

from tasuke import limits
from tasuke.agent.consent import RemoteEnd
from tasuke.agent.hello import clean_text
from tasuke.errors import ProtocolError

__all__ = [
    "MonitorRequest",
    "ended_text",
    "monitor_list",
    "monitors_message",
    "parse_control",
    "parse_server_text",
    "refused_text",
    "server_error_text",
]

_ERRORS = {
    "invalid_session": (
        "セッション番号が正しくないか、有効期限が切れています。\n"
        "The session number is invalid or has expired."
    ),
    "rate_limited": (
        "試行回数が多すぎます。しばらく待ってからやり直してください。\n"
        "Too many attempts. Please wait a while and try again."
    ),
    "blocked": (
        "このネットワークからの接続はサポート窓口によって拒否されています。"
        "サポート窓口にお問い合わせください。\n"
        "Connections from this network are refused by the help desk. Please contact the help desk."
    ),
}

_ENDED = {
    "customer": "セッションを終了しました。 / You ended the session.",
    "operator": "担当者がセッションを終了しました。 / The operator ended the session.",
    "server": "サーバーがセッションを終了しました。 / The server ended the session.",
    "denied": "接続を拒否しました。 / You denied the connection.",
    "ended": "セッションが終了しました。 / The session ended.",
    "handshake_timeout": (
        "暗号化チャネルを時間内に確立できなかったため、セッションを終了しました。 / "
        "The session ended: the encrypted channel was not set up in time."
    ),
}


def _load_object(raw: str | bytes, limit: int, what: str) -> dict[str, Any]:
    if len(raw) > limit:
        raise ProtocolError(f"{what} too large")
    try:
        message = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"{what} is not valid JSON") from exc
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError(f"{what} is not a JSON object with a type")
    return message


def parse_server_text(raw: str | bytes) -> dict[str, Any]:
    """Parse one control-plane text frame from the server.

    Raises:
        ProtocolError: a binary frame, too large, not JSON, or no ``type``.
    """
    if not isinstance(raw, str):
        raise ProtocolError("expected a text frame from the server")
    return _load_object(raw, limits.MAX_TEXT_FRAME, "server message")


@dataclass(frozen=True, slots=True)
class MonitorRequest:
    """The console asks to be shown monitor ``index`` (0: all of them).

    Only what is captured changes; consent does not (the agent never hands this to
    :class:`~tasuke.agent.consent.Consent`).
    """

    index: int


def monitor_list(monitors: list[tuple[int, int, int, int]]) -> list[list[int]]:
    """The monitors as ``info`` and ``monitors`` list them (docs/protocol.md 2.8).

    Empty (no selector in the console) when there are more than ``limits.MAX_MONITORS``
    or one is outside the sizes the console accepts: the console's indices must be the
    screen engine's, so the list is sent whole or not at all.
    """
    dim = limits.MAX_FRAMEBUFFER_DIM
    ok = len(monitors) <= limits.MAX_MONITORS and all(
        0 <= x <= dim and 0 <= y <= dim and 1 <= w <= dim and 1 <= h <= dim
        for x, y, w, h in monitors
    )
    return [list(m) for m in monitors] if ok else []


def monitors_message(
    monitors: list[tuple[int, int, int, int]], selected: int
) -> dict[str, Any] | None:
    """The ``monitors`` message: the console's new selector choices and which is shown (2.8).

    The list is checked as :func:`monitor_list` checks it for ``info``; when it is not sent
    (none, or out of bounds), ``selected`` is 0. None when ``selected`` is not one of the
    monitors listed: the screen worker was caught between setting the two, and it reports
    again once it has set both.
    """
    listed = monitor_list(monitors)
    shown = selected if listed else 0
    if not 0 <= shown <= len(listed):
        return None
    return {"type": "monitors", "monitors": listed, "selected": shown}


def parse_control(payload: bytes) -> RemoteEnd | MonitorRequest:
    """Parse a channel-0 message from the console (docs/protocol.md 2.8).

    The console may send ``end`` and ``monitor``. Whatever its ``by`` says, an end on the
    console's channel is the operator's. ``monitor`` must be exactly
    ``{"type": "monitor", "select": N}`` with an integer N in 0..``limits.MAX_MONITORS``.
    Whether N is one of the monitors is for the session to judge: a console may choose from
    a list that the agent has replaced in the meantime, which is no reason to end.

    Raises:
        ProtocolError: too large, not UTF-8 JSON, no ``type``, a type the console may
            not send (``consent``, ``info`` and ``monitors`` included), or malformed fields.
    """
    message = _load_object(payload, limits.MAX_CONTROL_MESSAGE, "control message")
    kind = message["type"]
    if kind == "monitor":
        index = message.get("select")
        # bool is an int in Python; JSON true is not a monitor number.
        if (
            set(message) != {"type", "select"}
            or not isinstance(index, int)
            or isinstance(index, bool)
            or not 0 <= index <= limits.MAX_MONITORS
        ):
            raise ProtocolError("malformed monitor message")
        return MonitorRequest(index)
    if kind != "end":
        raise ProtocolError(f"unknown control message type: {clean_text(kind, 40)}")
    reason = message.get("reason", "")
    by = message.get("by", "operator")
    if not isinstance(reason, str) or not isinstance(by, str):
        raise ProtocolError("malformed end message")
    return RemoteEnd("console", "operator", reason[: limits.MAX_END_REASON])


def server_error_text(message: dict[str, Any]) -> str:
    """The customer-facing text for a server ``error`` message."""
    code = str(message.get("code", ""))
    base = _ERRORS.get(code, "サーバーが接続を拒否しました。 / The server refused the connection.")
    detail = clean_text(str(message.get("message", "")), 300)
    return f"{base}\n({detail})" if detail else base


def refused_text(reason: str) -> str:
    """Why the agent refused the server's welcome."""
    return (
        "サーバーの署名を確認できないため中止しました。 / "
        f"Stopped: the server's signed grant could not be verified ({reason})."
    )


def ended_text(by: str, reason: str = "") -> str:
    """The customer-facing text for the end of the session."""
    text = _ENDED.get(by, _ENDED["server"])
    return f"{text} ({reason})" if reason else text
