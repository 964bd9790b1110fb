"""Parsing server and console messages; what the customer reads about them."""

import json

import pytest

from tasuke import limits
from tasuke.agent import consent as c
from tasuke.agent.messages import parse_control, parse_server_text, server_error_text
from tasuke.errors import ProtocolError


@pytest.mark.parametrize(
    "raw", [b"not json", b"[1,2]", b'{"no":"type"}', b'{"type":3}', b"\xff\xfe"]
)
def test_bad_control_messages_are_protocol_errors(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_control(raw)


def test_oversized_control_message_is_refused() -> None:
    raw = json.dumps({"type": "chat", "text": "x" * limits.MAX_CONTROL_MESSAGE}).encode()
    with pytest.raises(ProtocolError, match="too large"):
        parse_control(raw)


def test_control_messages_become_remote_events() -> None:
    assert parse_control(b'{"type":"end","by":"operator","reason":"done"}') == c.RemoteEnd(
        "console", "operator", "done"
    )
    claim = parse_control(b'{"type":"consent","state":"granted","scope":"control"}')
    assert isinstance(claim, c.RemoteConsentClaim)
    assert not isinstance(claim, c.LocalEvent)


def test_server_text_must_be_a_small_json_object() -> None:
    assert parse_server_text('{"type":"waiting"}') == {"type": "waiting"}
    for raw in ("[]", "nope", '{"type": null}'):
        with pytest.raises(ProtocolError):
            parse_server_text(raw)
    with pytest.raises(ProtocolError):
        parse_server_text(b'{"type":"waiting"}')
    with pytest.raises(ProtocolError, match="too large"):
        parse_server_text('{"type":"x","p":"' + "x" * limits.MAX_TEXT_FRAME + '"}')


def test_invalid_session_is_explained_in_japanese_and_english() -> None:
    text = server_error_text(
        {"type": "error", "code": "invalid_session", "message": "no such session\x1b[31m"}
    )
    assert "有効期限" in text
    assert "invalid or has expired" in text
    assert "\x1b" not in text
