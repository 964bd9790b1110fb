"""Revision 0002_admin: operators from before keep what they could do; up, down and up again."""

import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from tasuke.server.db.engine import MIGRATIONS, create_engine


def _to(connection: Connection, target: str, down: bool) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, target)


async def _migrate(path: Path, target: str, *, down: bool = False) -> None:
    engine = create_engine(path)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_to, target, down)
    finally:
        await engine.dispose()


async def test_existing_operators_keep_their_powers_and_downgrade_works(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    await _migrate(path, "0001")
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO operators (username, display_name, password_hash, is_admin,"
            " password_is_one_time, created_at) VALUES ('old', 'Old', 'x', 0, 0, '2026-01-01')"
        )
    await _migrate(path, "head")
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT rights, modes, disabled_at FROM operators").fetchone()
        triggers = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    assert row == ("view,control,files,sysinfo", "number", None)
    assert triggers >= {"audit_log_no_update", "audit_log_no_delete"}
    await _migrate(path, "0001", down=True)
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert db.execute("SELECT username FROM operators").fetchall() == [("old",)]
    assert "audit_log" not in tables
    assert "network_lists" not in tables
    await _migrate(path, "head")
