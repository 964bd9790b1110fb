"""Parsing server and console messages; what the customer reads about them."""

import json

import pytest

from tasuke import limits
from tasuke.agent import consent as c
from tasuke.agent.messages import ended_text, parse_control, parse_server_text, server_error_text
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


def test_an_end_from_the_console_is_the_operators() -> None:
    assert parse_control(b'{"type":"end","by":"operator","reason":"done"}') == c.RemoteEnd(
        "console", "operator", "done"
    )
    # Whatever `by` claims: only the operator speaks on the console's channel.
    assert parse_control(b'{"type":"end","by":"customer"}') == c.RemoteEnd(
        "console", "operator", ""
    )


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type":"consent","state":"granted","scope":"control"}',  # agent -> console only
        b'{"type":"info","os":"x"}',  # agent -> console only
        b'{"type":"chat","text":"hi"}',  # not in this version
        b'{"type":"end","reason":42}',
        b'{"type":"end","by":null}',
    ],
)
def test_types_the_console_may_not_send_and_malformed_ends_are_errors(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_control(raw)


def test_who_ended_it_is_said_only_when_known() -> None:
    assert "operator ended" in ended_text("operator")
    assert "The session ended" in ended_text("ended")
    assert "セッションが終了しました" in ended_text("ended")
    assert "operator" not in ended_text("ended")


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


def test_a_blocked_network_is_told_so_in_japanese_and_english() -> None:
    text = server_error_text({"type": "error", "code": "blocked", "message": "refused"})
    assert "Connections from this network are refused by the help desk" in text
    assert "拒否されています" in text
