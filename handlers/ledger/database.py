"""The ledger's database: the engine from ``DatabaseSettings`` and the ledger's migrations.

The schema is made only by the Alembic migrations in ``handlers/ledger/migrations``, run with
``claimflow db upgrade`` or :func:`upgrade`, through the helper both of claimflow's schemas
share (:mod:`claimflow.database`: the engine, SQLite and PostgreSQL, and what
:func:`ensure_schema` refuses).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from claimflow.database import Migrations, create_engine

__all__ = ["LEDGER_MIGRATIONS", "MIGRATIONS", "create_engine", "ensure_schema", "upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")
LEDGER_MIGRATIONS = Migrations(MIGRATIONS, version_table="alembic_version", subject="ledger")


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the ledger's schema to ``revision`` (idempotent)."""
    await LEDGER_MIGRATIONS.upgrade(engine, revision)


async def ensure_schema(engine: AsyncEngine) -> None:
    """Make sure the ledger's schema is this claimflow's; migrate only the SQLite default."""
    await LEDGER_MIGRATIONS.ensure_schema(engine)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    await LEDGER_MIGRATIONS.downgrade(engine, revision)
