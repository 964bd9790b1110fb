"""``tasuke operator reset-second-factor NAME``: the way back for a locked-out operator.

An operator who lost both the authenticator and the recovery codes cannot sign in, and no web
route can remove a second factor without signing in first; an admin with access to the server
host runs this instead. It removes the operator's TOTP secret, recovery codes, security keys
and trusted browsers, signs them out everywhere, and writes an audit event.
"""

import argparse
import asyncio
import getpass
import sys
from pathlib import Path
from typing import TypeAlias

from tasuke.errors import ConfigError

__all__ = ["add_operator_actions"]

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_operator_actions(actions: Subparsers) -> None:
    """Add ``reset-second-factor`` to ``tasuke operator``."""
    parser = actions.add_parser(
        "reset-second-factor",
        help="remove an operator's second factors and trusted browsers (lost authenticator)",
    )
    parser.add_argument("name")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("./data"),
        help="folder for the database and the server key (default: ./data)",
    )
    parser.set_defaults(func=_reset_second_factor)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (some containers)
        return "cli"


async def _reset(data_dir: Path, name: str) -> None:
    from tasuke.server.admin import audit
    from tasuke.server.app import prepare
    from tasuke.server.db.engine import create_engine, make_sessionmaker
    from tasuke.server.db.signin_store import SigninStore
    from tasuke.server.db.store import Store
    from tasuke.server.deps import system_clock, system_random
    from tasuke.server.settings import Settings

    settings = Settings(data_dir=data_dir)
    await prepare(settings, create_admin=False)
    engine = create_engine(settings.database_path)
    try:
        sessions = make_sessionmaker(engine)
        store = Store(sessions, system_clock, system_random)
        # A disabled operator too: an admin may clear the factors before enabling them again.
        operator = await store.operator_by_username(name, include_disabled=True)
        if operator is None:
            raise ConfigError(f"no operator {name!r}")
        await SigninStore(sessions, system_clock, system_random).reset_second_factor(operator.id)
        await audit.record(store, "second_factor.reset", actor=_actor(), subject=name, address=None)
    finally:
        await engine.dispose()


def _reset_second_factor(args: argparse.Namespace) -> int:
    try:
        asyncio.run(_reset(args.data_dir, args.name))
    except ConfigError as exc:
        print(f"tasuke operator: {exc}", file=sys.stderr)
        return 1
    print(f"Removed the second factors and trusted browsers of {args.name}; signed them out.")
    return 0
