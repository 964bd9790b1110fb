"""``tasuke server`` and ``tasuke operator ...``: registered into the ``tasuke`` command."""

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tasuke.errors import ConfigError

if TYPE_CHECKING:
    from tasuke.server.db.store import Store

__all__ = ["register"]


def _data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("./data"),
        help="folder for the database and the server key (default: ./data)",
    )


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the ``server`` and ``operator`` sub-commands."""
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
    add = actions.add_parser("add", help="create an operator with a one-time password")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="make the operator an admin")
    add.add_argument("--display-name", help="name customers see (default: NAME)")
    _data_dir(add)
    add.set_defaults(func=_operator_add)
    reset = actions.add_parser("reset-password", help="give an operator a new one-time password")
    reset.add_argument("name")
    _data_dir(reset)
    reset.set_defaults(func=_operator_reset)
    listing = actions.add_parser("list", help="list operators")
    _data_dir(listing)
    listing.set_defaults(func=_operator_list)


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


def _with_store(data_dir: Path, action: "Callable[[Store], Awaitable[int]]") -> int:
    from tasuke.server.app import prepare
    from tasuke.server.db.engine import create_engine, make_sessionmaker
    from tasuke.server.db.store import Store
    from tasuke.server.deps import system_clock, system_random
    from tasuke.server.settings import Settings

    async def main() -> int:
        settings = Settings(data_dir=data_dir)
        # Only the schema: the first admin is created (and its password shown) by the server.
        await prepare(settings, create_admin=False)
        engine = create_engine(settings.database_path)
        try:
            return await action(Store(make_sessionmaker(engine), system_clock, system_random))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except ConfigError as exc:
        print(f"tasuke operator: {exc}", file=sys.stderr)
        return 1


def _operator_add(args: argparse.Namespace) -> int:
    async def action(store: "Store") -> int:
        password = await store.add_operator(
            args.name, display_name=args.display_name, is_admin=args.admin
        )
        print(f"one-time password: {password}", flush=True)
        return 0

    return _with_store(args.data_dir, action)


def _operator_reset(args: argparse.Namespace) -> int:
    async def action(store: "Store") -> int:
        print(f"one-time password: {await store.reset_password(args.name)}", flush=True)
        return 0

    return _with_store(args.data_dir, action)


def _operator_list(args: argparse.Namespace) -> int:
    async def action(store: "Store") -> int:
        for op in await store.list_operators():
            flags = [("admin", op.is_admin), ("one-time password", op.password_is_one_time)]
            print(f"{op.username}\t{op.display_name}\t{', '.join(f for f, on in flags if on)}")
        return 0

    return _with_store(args.data_dir, action)
