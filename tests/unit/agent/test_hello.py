"""Session numbers, server URLs, TLS and cleaning remote text."""

import ssl
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tasuke.agent import hello
from tasuke.errors import ConfigError


@pytest.mark.parametrize(
    "typed",
    [
        "123456789",
        "123 456 789",
        "123-456-789",
        " 123-456 789 ",
        "１２３ ４５６ ７８９",
        "123ー456ー789",
    ],
)
def test_numbers_as_customers_type_them_are_accepted(typed: str) -> None:
    assert hello.normalise_number(typed) == "123456789"


@pytest.mark.parametrize(
    "typed", ["", "12345678", "1234567890", "12345678a", "123.456.789", "١٢٣٤٥٦٧٨٩"]
)
def test_anything_but_nine_digits_is_refused_in_both_languages(typed: str) -> None:
    with pytest.raises(ConfigError) as info:
        hello.normalise_number(typed)
    assert "9桁" in str(info.value)
    assert "9 digits" in str(info.value)


@given(st.text(max_size=30))
def test_normalise_returns_nine_ascii_digits_or_raises(text: str) -> None:
    try:
        number = hello.normalise_number(text)
    except ConfigError:
        return
    assert len(number) == 9
    assert number.isascii()
    assert number.isdigit()


def test_format_number() -> None:
    assert hello.format_number("123456789") == "123 456 789"


@pytest.mark.parametrize(
    ("server", "ws"),
    [
        ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/ws/agent"),
        ("https://support.example", "wss://support.example/ws/agent"),
        ("https://support.example/", "wss://support.example/ws/agent"),
        ("HTTPS://support.example/help/", "wss://support.example/help/ws/agent"),
    ],
)
def test_agent_ws_url(server: str, ws: str) -> None:
    assert hello.agent_ws_url(server) == ws


@pytest.mark.parametrize("server", ["ftp://x", "support.example", "ws://x", "https://"])
def test_other_server_addresses_are_refused(server: str) -> None:
    with pytest.raises(ConfigError, match="http"):
        hello.agent_ws_url(server)


def test_tls_always_verifies_certificates_and_host_names() -> None:
    ctx = hello.tls_context("wss://support.example/ws/agent", None)
    assert ctx is not None
    assert ctx.verify_mode is ssl.CERT_REQUIRED
    assert ctx.check_hostname


def test_plain_ws_has_no_tls_and_rejects_a_ca_file() -> None:
    assert hello.tls_context("ws://x/ws/agent", None) is None
    with pytest.raises(ConfigError):
        hello.tls_context("ws://x/ws/agent", "/etc/ssl/ca.pem")


def test_unreadable_ca_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CA certificate"):
        hello.tls_context("wss://x/ws/agent", str(tmp_path / "missing.pem"))


def test_os_pretty_name_reads_os_release(tmp_path: Path) -> None:
    release = tmp_path / "os-release"
    release.write_text('NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
    assert hello.os_pretty_name(release) == "Debian GNU/Linux 12 (bookworm)"
    assert hello.os_pretty_name(tmp_path / "missing")  # falls back to platform


def test_hello_has_the_documented_shape() -> None:
    message = hello.build_hello("123456789", (1024, 768))
    assert message["type"] == "hello"
    assert message["role"] == "agent"
    assert message["join"] == "123456789"
    assert message["agent"]["screen"] == [1024, 768]
    assert set(message["agent"]) == {"os", "hostname", "screen", "agent_version"}


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("Sato \x1b[2J\x1b]0;pwned\x07Hanako", "Sato [2J]0;pwnedHanako"),
        ("Evil\u202eoknaH", "EviloknaH"),
        ("a\u200bb", "ab"),
        ("line1\nline2", "line1 line2"),
        ("佐藤 花子", "佐藤 花子"),
    ],
)
def test_clean_text_removes_terminal_escapes_and_direction_tricks(raw: str, shown: str) -> None:
    assert hello.clean_text(raw) == shown


def test_clean_text_truncates() -> None:
    assert hello.clean_text("x" * 500, 10) == "x" * 9 + "…"
