"""The ``status_checks`` rows: one per command, each state change its own committed transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from handlers.followup_state.tables import StatusCheckRow, utcnow
from router.followups import StatusCheckRequest, StatusCheckResult

__all__ = ["FINAL_STATES", "StatusCheckState", "StatusCheckStore"]

#: States whose result is stored: a re-delivered command re-publishes it and asks nothing.
FINAL_STATES = frozenset({"answered", "failed", "timed_out"})


@dataclass(frozen=True, slots=True)
class StatusCheckState:
    state: str
    integrex_request_id: str | None
    result: StatusCheckResult | None
    attempts: int


def _state(row: StatusCheckRow) -> StatusCheckState:
    result = StatusCheckResult.model_validate(row.result) if row.result is not None else None
    return StatusCheckState(row.state, row.integrex_request_id, result, row.attempts)


class StatusCheckStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def begin(self, command: StatusCheckRequest) -> StatusCheckState:
        """The command's row, created as ``requested`` if new; counts one more attempt."""
        async with self._sessions() as session:
            try:
                async with session.begin():
                    session.add(
                        StatusCheckRow(
                            command_id=command.command_id,
                            claim_id=command.claim.claim_id,
                            submission_number=command.claim.submission_number,
                            state="requested",
                            attempts=1,
                        )
                    )
            except IntegrityError:
                pass
            else:
                return StatusCheckState("requested", None, None, 1)
            async with session.begin():
                row = await session.scalar(
                    select(StatusCheckRow)
                    .where(StatusCheckRow.command_id == command.command_id)
                    .with_for_update()
                )
                assert row is not None, "a row that violated the key exists"
                if row.state not in FINAL_STATES:
                    row.attempts += 1
                    row.updated_at = utcnow()
                return _state(row)

    async def submitted(self, command_id: str, integrex_request_id: str) -> None:
        """Integrex accepted the inquiry: keep its id before the first poll."""
        await self._update(command_id, state="submitted", integrex_request_id=integrex_request_id)

    async def forget_request(self, command_id: str) -> None:
        """Integrex no longer knows the id (its results expire): ask again next time."""
        await self._update(command_id, state="requested", integrex_request_id=None)

    async def finish(self, command_id: str, result: StatusCheckResult) -> None:
        state = "answered" if result.outcome == "not_found" else result.outcome
        await self._update(command_id, state=state, result=result.model_dump(mode="json"))

    async def get(self, command_id: str) -> StatusCheckState | None:
        async with self._sessions() as session:
            row = await session.get(StatusCheckRow, command_id)
            return _state(row) if row is not None else None

    async def _update(self, command_id: str, **values: Any) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(StatusCheckRow)
                .where(StatusCheckRow.command_id == command_id)
                .values(updated_at=utcnow(), **values)
            )
