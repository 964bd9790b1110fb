"""Alembic environment: always runs on a connection handed over by tasuke.server.db.engine."""

from alembic import context
from sqlalchemy.engine import Connection

from tasuke.server.db.models import Base

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through tasuke.server.db.engine.migrate()")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
)
with context.begin_transaction():
    context.run_migrations()
