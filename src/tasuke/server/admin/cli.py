"""``tasuke operator ...``, ``tasuke lists ...`` and ``tasuke audit ...``: run on the server host.

These commands are the only way to create an admin. They work on the data folder directly
(SQLite in WAL mode, so also while the server runs) and write the same audit events as the
admin pages, with the actor ``cli:<login name>``.
"""

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from tasuke.errors import ConfigError

if TYPE_CHECKING:
    from tasuke.server.db.store import Store

__all__ = ["add_operator_actions", "register"]

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("./data"),
        help="folder for the database and the server key (default: ./data)",
    )


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (some containers)
        return "cli"


def _run(
    data_dir: Path, prog: str, action: "Callable[[Store], Awaitable[int]]", *, migrate: bool = True
) -> int:
    from tasuke.server.app import prepare
    from tasuke.server.db.engine import create_engine, make_sessionmaker
    from tasuke.server.db.store import Store
    from tasuke.server.deps import system_clock, system_random
    from tasuke.server.settings import Settings

    async def main() -> int:
        settings = Settings(data_dir=data_dir)
        if migrate:
            # Only the schema: the first admin is created (and its password shown) by the server.
            await prepare(settings, create_admin=False)
        elif not settings.database_path.is_file():
            raise ConfigError(f"no database in {data_dir}")
        engine = create_engine(settings.database_path)
        try:
            return await action(Store(make_sessionmaker(engine), system_clock, system_random))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except ConfigError as exc:
        print(f"tasuke {prog}: {exc}", file=sys.stderr)
        return 2 if not migrate else 1


def _split(text: str | None) -> list[str]:
    return [] if text is None else text.split(",")


# --- operators -------------------------------------------------------------------------------


def add_operator_actions(actions: Subparsers) -> None:
    """Add add/list/reset-password/set-rights/disable/enable to ``tasuke operator``."""
    add = actions.add_parser("add", help="create an operator with a one-time password")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="make the operator an admin")
    add.add_argument("--display-name", help="name customers see (default: NAME)")
    add.add_argument(
        "--rights",
        help="comma list of view,control,files,sysinfo (default: view; with --admin: all)",
    )
    add.add_argument("--modes", default="number", help="comma list of modes (default: number)")
    _data_dir(add)
    add.set_defaults(func=_operator_add)

    reset = actions.add_parser("reset-password", help="give an operator a new one-time password")
    reset.add_argument("name")
    _data_dir(reset)
    reset.set_defaults(func=_operator_reset)

    listing = actions.add_parser("list", help="list operators with role, rights and state")
    _data_dir(listing)
    listing.set_defaults(func=_operator_list)

    rights = actions.add_parser("set-rights", help="replace an operator's rights and/or modes")
    rights.add_argument("name")
    rights.add_argument("--rights", help="comma list of view,control,files,sysinfo ('' = none)")
    rights.add_argument("--modes", help="comma list of modes ('' = none)")
    _data_dir(rights)
    rights.set_defaults(func=_operator_set_rights)

    for verb, helptext in (
        ("disable", "sign an operator out everywhere and refuse their sign-ins"),
        ("enable", "allow a disabled operator to sign in again"),
    ):
        parser = actions.add_parser(verb, help=helptext)
        parser.add_argument("name")
        _data_dir(parser)
        parser.set_defaults(func=_operator_toggle, verb=verb)


def _operator_add(args: argparse.Namespace) -> int:
    from tasuke.server.admin import operators
    from tasuke.server.admin.rights import ALL_RIGHTS, DEFAULT_RIGHTS

    async def action(store: "Store") -> int:
        default = ALL_RIGHTS if args.admin else DEFAULT_RIGHTS
        rights = _split(args.rights) if args.rights is not None else _split(default)
        password = await operators.create_operator(
            store,
            args.name,
            display_name=args.display_name,
            rights=operators.parse_rights(rights),
            modes=operators.parse_modes(_split(args.modes)),
            is_admin=args.admin,
            actor=_actor(),
            address=None,
        )
        print(f"one-time password: {password}", flush=True)
        return 0

    return _run(args.data_dir, "operator", action)


def _operator_reset(args: argparse.Namespace) -> int:
    from tasuke.server.admin import operators

    async def action(store: "Store") -> int:
        password = await operators.reset_operator_password(
            store, args.name, actor=_actor(), address=None
        )
        print(f"one-time password: {password}", flush=True)
        return 0

    return _run(args.data_dir, "operator", action)


def _operator_list(args: argparse.Namespace) -> int:
    from tasuke.server.admin.rights import MODES, RIGHTS, format_names, modes_of, rights_of

    async def action(store: "Store") -> int:
        print("user\tname\trole\trights\tmodes\tstate")
        for op in await store.list_operators():
            state = (
                "disabled"
                if op.disabled_at is not None
                else "one-time password"
                if op.password_is_one_time
                else "active"
            )
            role = "admin" if op.is_admin else "operator"
            rights = format_names(rights_of(op), RIGHTS) or "-"
            modes = format_names(modes_of(op), MODES) or "-"
            print(f"{op.username}\t{op.display_name}\t{role}\t{rights}\t{modes}\t{state}")
        return 0

    return _run(args.data_dir, "operator", action)


def _operator_set_rights(args: argparse.Namespace) -> int:
    from tasuke.server.admin import operators
    from tasuke.server.admin.rights import MODES, RIGHTS, format_names, modes_of, rights_of

    async def action(store: "Store") -> int:
        if args.rights is None and args.modes is None:
            raise ConfigError("give --rights and/or --modes")
        current = await store.operator_by_username(args.name, include_disabled=True)
        if current is None:
            raise ConfigError(f"no operator {args.name!r}")
        rights = (
            operators.parse_rights(_split(args.rights))
            if args.rights is not None
            else format_names(_stored(current.rights, RIGHTS) or rights_of(current), RIGHTS)
        )
        modes = (
            operators.parse_modes(_split(args.modes))
            if args.modes is not None
            else format_names(_stored(current.modes, MODES) or modes_of(current), MODES)
        )
        after = await operators.set_rights(
            store, args.name, rights=rights, modes=modes, actor=_actor(), address=None
        )
        print(f"{after.username}: rights {after.rights or '-'}; modes {after.modes or '-'}")
        return 0

    return _run(args.data_dir, "operator", action)


def _stored(text: str, known: tuple[str, ...]) -> set[str]:
    return {part for part in text.split(",") if part in known}


def _operator_toggle(args: argparse.Namespace) -> int:
    from tasuke.server.admin import operators

    async def action(store: "Store") -> int:
        change = operators.disable_operator if args.verb == "disable" else operators.enable_operator
        await change(store, args.name, actor=_actor(), address=None)
        print(f"{args.name}: {args.verb}d")
        return 0

    return _run(args.data_dir, "operator", action)


# --- network lists ---------------------------------------------------------------------------

_LIST_NAMES = {"operator-allow": "operator_allow", "customer-block": "customer_block"}


def _lists_register(subparsers: Subparsers) -> None:
    lists = subparsers.add_parser(
        "lists", help="operator sign-in allow list and customer block list (CIDR networks)"
    )
    actions = lists.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print the lists")
    show.add_argument("list", nargs="?", choices=sorted(_LIST_NAMES))
    _data_dir(show)
    show.set_defaults(func=_lists_show)
    for verb in ("add", "remove"):
        parser = actions.add_parser(verb, help=f"{verb} a network")
        parser.add_argument("list", choices=sorted(_LIST_NAMES))
        parser.add_argument("network", help="CIDR network or single address")
        if verb == "add":
            parser.add_argument("--note", default="", help="why it is listed")
        _data_dir(parser)
        parser.set_defaults(func=_lists_change, verb=verb)


def _lists_show(args: argparse.Namespace) -> int:
    from tasuke.server.admin import netlists

    async def action(store: "Store") -> int:
        chosen = _LIST_NAMES[args.list] if args.list else None
        for entry in await netlists.entries(store, chosen):
            name = entry.list_name.replace("_", "-")
            print(f"{name}\t{entry.network}\t{entry.note}\t{entry.created_by or ''}")
        return 0

    return _run(args.data_dir, "lists", action)


def _lists_change(args: argparse.Namespace) -> int:
    from tasuke.server.admin import netlists

    async def action(store: "Store") -> int:
        name = _LIST_NAMES[args.list]
        if args.verb == "add":
            entry = await netlists.add_entry(
                store, name, args.network, note=args.note, actor=_actor(), address=None
            )
            print(f"added {entry.network} to {args.list}")
        else:
            await netlists.remove_entry(store, name, args.network, actor=_actor(), address=None)
            print(f"removed {args.network} from {args.list}")
        return 0

    return _run(args.data_dir, "lists", action)


# --- audit log -------------------------------------------------------------------------------


def _audit_register(subparsers: Subparsers) -> None:
    audit = subparsers.add_parser("audit", help="check or export the audit log")
    actions = audit.add_subparsers(dest="action", metavar="ACTION", required=True)
    verify = actions.add_parser(
        "verify", help="check the hash chain; exit 1 and name the first bad row if broken"
    )
    verify.add_argument(
        "--anchor",
        action="append",
        default=[],
        metavar="HASH",
        help="a head hash printed by an earlier verify; it must still be in the chain (repeatable)",
    )
    _data_dir(verify)
    verify.set_defaults(func=_audit_verify)
    export = actions.add_parser("export", help="write the whole log as CSV or JSON")
    export.add_argument("--format", choices=("csv", "json"), default="json")
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    _data_dir(export)
    export.set_defaults(func=_audit_export)


def _audit_verify(args: argparse.Namespace) -> int:
    async def action(store: "Store") -> int:
        report = await store.audit.verify(args.anchor)
        if report.ok:
            print(f"audit log intact: {report.rows} entries, head {report.head}")
            return 0
        print(
            f"audit log BROKEN at entry {report.broken_at}: {report.problem} "
            f"({report.rows - 1} entries before it are intact)"
        )
        return 1

    return _run(args.data_dir, "audit", action, migrate=False)


def _audit_export(args: argparse.Namespace) -> int:
    from tasuke.server.admin.audit import export_csv, export_json

    async def action(store: "Store") -> int:
        rows = await store.audit.entries(newest_first=False)
        text = export_csv(rows) if args.format == "csv" else export_json(rows)
        if args.output is None:
            sys.stdout.write(text)
        else:
            args.output.write_text(text, encoding="utf-8")
        return 0

    return _run(args.data_dir, "audit", action, migrate=False)


def register(subparsers: Subparsers) -> None:
    """Add the ``lists`` and ``audit`` sub-commands."""
    _lists_register(subparsers)
    _audit_register(subparsers)
