"""The shared per-day request counts of partner budgets (``partner_request_budgets``).

:meth:`RequestBudgetStore.take` counts one request with a conditional update (``used < limit``),
so replicas on PostgreSQL (and processes on SQLite) never count past the limit together.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from handlers.followups.state.tables import PartnerRequestBudgetRow
from handlers.followups.state.timers import sqlite_writer

__all__ = ["RequestBudgetStore"]


class RequestBudgetStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._writer = sqlite_writer(engine)

    async def take(self, partner: str, day: date, limit: int) -> int | None:
        """Count one request of ``partner`` on ``day``; the new count, or ``None`` at the limit."""
        for _ in range(2):
            async with self._writer, self._sessions() as session, session.begin():
                used = await session.scalar(
                    update(PartnerRequestBudgetRow)
                    .where(
                        PartnerRequestBudgetRow.partner == partner,
                        PartnerRequestBudgetRow.day == day,
                        PartnerRequestBudgetRow.used < limit,
                    )
                    .values(used=PartnerRequestBudgetRow.used + 1)
                    .returning(PartnerRequestBudgetRow.used)
                )
                if used is not None:
                    return int(used)
                exists = await session.get(PartnerRequestBudgetRow, (partner, day))
                if exists is not None:
                    return None
            try:
                async with self._writer, self._sessions() as session, session.begin():
                    session.add(PartnerRequestBudgetRow(partner=partner, day=day, used=0))
            except IntegrityError:
                pass  # another replica made the day's row first
        return None

    async def used(self, partner: str, day: date) -> int:
        async with self._sessions() as session:
            row = await session.get(PartnerRequestBudgetRow, (partner, day))
            return row.used if row is not None else 0
