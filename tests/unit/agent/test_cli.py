"""``tasuke join`` argument handling and the choice of consent UI."""

import argparse

import pytest

from tasuke.agent import cli
from tasuke.agent.ui_terminal import TerminalUI


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tasuke")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_a_bad_number_stops_before_connecting(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("join", "12-345", "--server", "http://127.0.0.1:9")
    assert args.func(args) == 2
    out = capsys.readouterr().out
    assert "9桁" in out
    assert "9 digits" in out


def test_the_number_may_be_typed_in_groups() -> None:
    args = parse("join", "123", "456", "789", "--server", "https://x", "--consent", "terminal")
    assert args.number == ["123", "456", "789"]
    assert args.consent == "terminal"


def test_no_reachable_display_means_the_terminal() -> None:
    assert isinstance(cli.choose_ui("auto", None), TerminalUI)
    assert isinstance(cli.choose_ui("auto", ":987"), TerminalUI)
    assert isinstance(cli.choose_ui("terminal", ":0"), TerminalUI)


@pytest.mark.x11
def test_a_reachable_display_means_the_window(x_display: str) -> None:
    from tasuke.agent.ui_tk import TkUI

    assert isinstance(cli.choose_ui("auto", x_display), TkUI)
