"""Migrations of the follow-up state (outbound requests, timers, request budgets).

Their own Alembic chain in ``migrations/`` with its own version table, usually in the ledger's
database, run with ``claimflow db upgrade`` or :func:`upgrade` through the helper both of
claimflow's schemas share (:mod:`claimflow.database`).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from claimflow.database import Migrations

__all__ = ["FOLLOW_UP_MIGRATIONS", "MIGRATIONS", "upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")
FOLLOW_UP_MIGRATIONS = Migrations(
    MIGRATIONS, version_table="alembic_version_followups", subject="follow-up state"
)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the follow-up state's tables to ``revision`` (idempotent)."""
    await FOLLOW_UP_MIGRATIONS.upgrade(engine, revision)
