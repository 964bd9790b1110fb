"""`tasuke vnc` has no password, so it must refuse to listen anywhere but loopback."""

import subprocess
import sys

import pytest

from tasuke.errors import ConfigError
from tasuke.rfb.cli import parse_loopback_listen


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:5900", ("127.0.0.1", 5900)),
        ("127.8.9.10:0", ("127.8.9.10", 0)),
        ("[::1]:5901", ("::1", 5901)),
        ("localhost:5900", ("127.0.0.1", 5900)),
    ],
)
def test_loopback_addresses_are_accepted(value: str, expected: tuple[str, int]) -> None:
    assert parse_loopback_listen(value) == expected


@pytest.mark.parametrize(
    "value", ["0.0.0.0:5900", "192.168.1.20:5900", "[::]:5900", "[2001:db8::1]:5900"]
)
def test_other_addresses_are_refused_because_there_is_no_password(value: str) -> None:
    with pytest.raises(ConfigError, match="only on loopback"):
        parse_loopback_listen(value)


@pytest.mark.parametrize("value", ["example.com:5900", "5900", "127.0.0.1:http", "127.0.0.1:70000"])
def test_malformed_addresses_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="--listen"):
        parse_loopback_listen(value)


def test_command_refuses_a_public_address_with_a_clear_message() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tasuke.cli", "vnc", "--display", ":99", "--listen", "0.0.0.0:5900"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "loopback" in done.stderr
    assert "listening" not in done.stdout


def test_command_reports_a_display_it_cannot_open() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tasuke.cli",
            "vnc",
            "--display",
            ":4242",
            "--listen",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert ":4242" in done.stderr
    assert "listening" not in done.stdout
