"""``tasuke server`` and ``tasuke operator ...``: registered into the ``tasuke`` command."""

import argparse
import sys
from pathlib import Path

from tasuke.errors import ConfigError
from tasuke.server import signin_cli
from tasuke.server.admin import cli as admin_cli

__all__ = ["register"]


def _data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("./data"),
        help="folder for the database and the server key (default: ./data)",
    )


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the ``server``, ``operator``, ``lists`` and ``audit`` sub-commands."""
    server = subparsers.add_parser("server", help="run the Tasuke server (console, API, relay)")
    server.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT to bind")
    _data_dir(server)
    server.add_argument(
        "--public-url",
        help="the URL browsers and agents use (default: derived from --listen)",
    )
    server.add_argument("--tls-cert", type=Path, help="PEM certificate chain for HTTPS")
    server.add_argument("--tls-key", type=Path, help="PEM private key for HTTPS")
    server.add_argument(
        "--organisation", default="Tasuke", help="name shown to customers in the consent window"
    )
    server.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="IP",
        help="reverse proxy whose X-Forwarded-For is believed (repeatable)",
    )
    server.set_defaults(func=_run_server)

    operator = subparsers.add_parser("operator", help="manage console operators")
    actions = operator.add_subparsers(dest="action", metavar="ACTION", required=True)
    # add, list, reset-password, set-rights, disable, enable (tasuke.server.admin.cli).
    admin_cli.add_operator_actions(actions)
    signin_cli.add_operator_actions(actions)  # reset-second-factor
    admin_cli.register(subparsers)


def _run_server(args: argparse.Namespace) -> int:
    from tasuke.server.runner import run
    from tasuke.server.settings import Settings

    try:
        settings = Settings(
            listen=args.listen,
            data_dir=args.data_dir,
            public_url=args.public_url,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            organisation=args.organisation,
            trusted_proxies=tuple(args.trusted_proxy),
        )
    except ConfigError as exc:
        print(f"tasuke server: {exc}", file=sys.stderr)
        return 2
    return run(settings)
