"""``tasuke join``: the customer's command."""

import argparse
import asyncio
import os
import socket
from typing import TYPE_CHECKING

from tasuke.agent.hello import normalise_number
from tasuke.errors import ConfigError

if TYPE_CHECKING:
    from tasuke.agent.ui import ConsentUI

__all__ = ["choose_ui", "register"]


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add ``join`` to the ``tasuke`` command."""
    parser = subparsers.add_parser(
        "join",
        help="let a support operator see or control this PC (asks you first)",
        description=(
            "Join the support session whose 9-digit number the operator gave you. "
            "You will be asked before anything is shared."
        ),
    )
    parser.add_argument("number", nargs="+", help="the session number, e.g. 123 456 789")
    parser.add_argument(
        "--server", required=True, help="server address, e.g. https://support.example"
    )
    parser.add_argument(
        "--consent",
        choices=("auto", "tk", "terminal"),
        default="auto",
        help="where to ask for consent: a window (tk), the terminal, or auto (default)",
    )
    parser.add_argument("--display", default=None, help="X display to share, e.g. :0")
    parser.add_argument(
        "--ca-cert", default=None, metavar="FILE", help="trust this private CA for https"
    )
    parser.set_defaults(func=_run)


def _display_reachable(display: str | None) -> bool:
    """Whether an X server answers at ``display`` (":N", ":N.S" or "host:N")."""
    if not display:
        return False
    try:
        import tkinter  # noqa: F401  (a Python without Tk cannot show the window)
    except ImportError:
        return False
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return False
    try:
        if host in ("", "unix"):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(2.0)
                sock.connect(f"/tmp/.X11-unix/X{number}")  # noqa: S108 (the X11 convention)
        else:
            socket.create_connection((host, 6000 + int(number)), timeout=2.0).close()
    except OSError:
        return False
    return True


def choose_ui(mode: str, display: str | None) -> "ConsentUI":
    """Pick the consent UI: Tk when asked for or when a display is reachable."""
    if mode == "tk" or (mode == "auto" and _display_reachable(display)):
        from tasuke.agent.ui_tk import TkUI

        return TkUI(display)
    from tasuke.agent.ui_terminal import TerminalUI

    return TerminalUI()


def _run(args: argparse.Namespace) -> int:
    # Imported here so that registering `join` costs nothing for other commands.
    from tasuke.agent.connection import join
    from tasuke.agent.deps import JoinDeps, JoinOptions

    try:
        number = normalise_number("".join(args.number))
    except ConfigError as exc:
        print(exc)
        return 2
    display = args.display or os.environ.get("DISPLAY")
    options = JoinOptions(number=number, server=args.server, ca_cert=args.ca_cert, display=display)
    deps = JoinDeps(ui=choose_ui(args.consent, display))
    try:
        return asyncio.run(join(options, deps))
    except KeyboardInterrupt:
        return 130
