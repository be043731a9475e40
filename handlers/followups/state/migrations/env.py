"""Alembic environment of the partner handlers' state (its own chain and version table).

Run by ``handlers.followups.state.upgrade`` (``claimflow db upgrade``), which hands over an open
connection in ``config.attributes["connection"]``. The version table is
``alembic_version_followups`` so that this chain and the ledger's share one database.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from handlers.followups.state.tables import Base

# Handed over by claimflow.database.Migrations (FOLLOW_UP_MIGRATIONS); the default is the same.
VERSION_TABLE = "alembic_version_followups"


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=context.config.attributes.get("version_table", VERSION_TABLE),
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run through handlers.followups.state.upgrade (it passes a connection)")
    _run(connection)


run_migrations_online()
