"""Control-plane parsing: every malformed input raises the protocol error, nothing else."""

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tasuke import limits
from tasuke.errors import ProtocolError
from tasuke.server.ws.messages import (
    AgentConsent,
    ConsoleVerified,
    End,
    FrameTooBig,
    parse_agent_message,
    parse_console_message,
    parse_hello,
    parse_object,
    sanitise_agent_info,
)


def hello(**overrides: object) -> dict[str, object]:
    message: dict[str, object] = {
        "type": "hello",
        "role": "agent",
        "version": 1,
        "join": "123 456-789",
        "agent": {"os": "Debian", "hostname": "pc-01", "screen": [1920, 1080]},
    }
    message.update(overrides)
    return message


def test_hello_is_parsed_and_the_number_normalised() -> None:
    parsed = parse_hello(parse_object(json.dumps(hello())))
    assert parsed.join == "123456789"
    assert parsed.agent == {"os": "Debian", "hostname": "pc-01", "screen": [1920, 1080]}


@pytest.mark.parametrize(
    "bad",
    [
        hello(type="welcome"),
        hello(role="console"),
        hello(version=2),
        hello(join=123456789),
        hello(agent="pc-01"),
    ],
)
def test_bad_hellos_are_protocol_errors(bad: dict[str, object]) -> None:
    with pytest.raises(ProtocolError):
        parse_hello(parse_object(json.dumps(bad)))


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '"hello"', "{}", '{"type": 3}'])
def test_invalid_json_and_non_objects_are_refused(text: str) -> None:
    with pytest.raises(ProtocolError):
        parse_object(text)


def test_oversized_text_frame_is_too_big() -> None:
    with pytest.raises(FrameTooBig):
        parse_object(json.dumps({"type": "end", "reason": "x" * limits.MAX_TEXT_FRAME}))


def test_agent_strings_are_cut_and_cleaned() -> None:
    info = sanitise_agent_info(
        {
            "hostname": "a\x00b\x1b[31mc" + "x" * 500,
            "os": 7,
            "screen": [10**9, 5],
            "evil": "dropped",
        }
    )
    assert info["hostname"].startswith("ab[31mc")
    assert len(info["hostname"]) == limits.MAX_AGENT_STRING
    assert "os" not in info
    assert "screen" not in info
    assert "evil" not in info


def test_only_listed_message_types_pass() -> None:
    consent = parse_agent_message({"type": "consent", "decision": "granted", "scope": "view"})
    assert consent == AgentConsent("granted", "view", "user")
    assert parse_agent_message({"type": "end", "reason": "done"}) == End("done")
    assert parse_console_message({"type": "verified"}) == ConsoleVerified()
    with pytest.raises(ProtocolError):
        parse_agent_message({"type": "verified"})  # only the operator verifies
    with pytest.raises(ProtocolError):
        parse_console_message({"type": "consent", "decision": "granted", "scope": "control"})
    with pytest.raises(ProtocolError):
        parse_console_message({"type": "launch_missiles"})


@pytest.mark.parametrize(
    "message",
    [
        {"type": "consent", "decision": "maybe", "scope": None},
        {"type": "consent", "decision": "granted", "scope": None},
        {"type": "consent", "decision": "denied", "scope": "control"},
        {"type": "consent", "decision": "denied", "scope": None, "reason": "because"},
        {"type": "end", "reason": 5},
    ],
)
def test_malformed_agent_messages(message: dict[str, object]) -> None:
    with pytest.raises(ProtocolError):
        parse_agent_message(message)


@given(st.text(max_size=300))
def test_any_text_gives_an_object_or_a_protocol_error(text: str) -> None:
    try:
        message = parse_object(text)
    except ProtocolError:
        return
    for parse in (parse_agent_message, parse_console_message):
        with contextlib.suppress(ProtocolError):
            parse(message)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
VALID = {
    "hello": (parse_hello, hello()),
    "consent": (
        parse_agent_message,
        {"type": "consent", "decision": "granted", "scope": "view", "reason": "user"},
    ),
    "end (agent)": (parse_agent_message, {"type": "end", "reason": "done"}),
    "end (console)": (parse_console_message, {"type": "end", "reason": "done"}),
    "verified": (parse_console_message, {"type": "verified"}),
}


@pytest.mark.parametrize(
    "bad",
    [
        {"decision": ["granted"]},
        {"decision": {"granted": 1}},
        {"scope": ["view"]},
        {"scope": {"view": True}},
        {"reason": ["user"]},
        {"reason": {}},
        {"decision": "denied", "scope": ["view"]},
    ],
)
def test_unhashable_consent_fields_are_protocol_errors(bad: dict[str, object]) -> None:
    # A list or object used to reach `in frozenset(...)` and raise TypeError instead.
    message = {"type": "consent", "decision": "granted", "scope": "view", **bad}
    with pytest.raises(ProtocolError):
        parse_agent_message(message)


@pytest.mark.parametrize("name", list(VALID))
@given(data=st.data(), value=JSON_VALUES)
def test_any_json_value_in_any_field_parses_or_is_a_protocol_error(
    name: str, data: st.DataObject, value: object
) -> None:
    parse, valid = VALID[name]
    message = dict(valid)
    key = data.draw(st.sampled_from([*message.keys(), "extra"]), label="field")
    message[key] = value
    if key == "type" and not isinstance(value, str):
        return  # parse_object refuses these before any parser runs
    # Only ProtocolError may escape (a TypeError from a set lookup used to).
    with contextlib.suppress(ProtocolError):
        parse(message)  # type: ignore[operator]


def test_hello_version_must_be_the_integer_one() -> None:
    for version in (True, 1.0, "1", [1]):
        with pytest.raises(ProtocolError):
            parse_hello(hello(version=version))
