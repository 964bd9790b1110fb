"""Open the SQLite database in the data folder and bring its schema to the newest revision.

Third-party database errors do not leave this package as anything but SQLAlchemy errors; the
callers that face the network (the WebSocket legs) catch them at their own boundary.
"""

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncDBSession

__all__ = ["MIGRATIONS", "create_engine", "make_sessionmaker", "migrate"]

MIGRATIONS = Path(__file__).parent / "migrations"


def _set_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets `tasuke operator ...` write while the server reads; busy_timeout makes the
    # two wait for each other instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(path: Path) -> AsyncEngine:
    """Create the async engine for the SQLite file at ``path`` (created 0600 if missing)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        # The database holds password hashes and customer addresses: owner-only from birth.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    event.listen(engine.sync_engine, "connect", _set_pragmas)
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncDBSession]:
    """Sessions that keep loaded rows usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Apply every Alembic migration that the database does not have yet."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
