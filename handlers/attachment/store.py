"""The ``attachment_submissions`` rows: the record that decides whether a POST may be made.

Each method is its own committed transaction, so the order of commits is the order of events:
the intent is durable before the claim to send, the claim to send before the POST, and the POST's
answer is recorded right after it. ``claim_send`` moves ``intent_recorded`` to ``sending`` only if
the row is still ``intent_recorded`` (a conditional update), so of two attempts at most one sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from handlers.followup_state.tables import AttachmentRow, utcnow
from router.followups import AttachmentRequest, AttachmentResult

__all__ = ["FINAL_STATES", "AttachmentState", "AttachmentStore"]

#: States whose stored result is re-published as it is: nothing more is sent or polled.
FINAL_STATES = frozenset({"accepted", "rejected", "failed", "needs_review"})


@dataclass(frozen=True, slots=True)
class AttachmentState:
    state: str
    availity_request_id: int | None
    result: AttachmentResult | None
    attempts: int


def _state(row: AttachmentRow) -> AttachmentState:
    result = AttachmentResult.model_validate(row.result) if row.result is not None else None
    return AttachmentState(row.state, row.availity_request_id, result, row.attempts)


class AttachmentStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def record_intent(
        self, command: AttachmentRequest, *, control_number: str, request_number: str
    ) -> AttachmentState:
        """The row of ``control_number``, created as ``intent_recorded`` if new."""
        async with self._sessions() as session:
            try:
                async with session.begin():
                    session.add(
                        AttachmentRow(
                            attachment_control_number=control_number,
                            command_id=command.command_id,
                            loinc_codes=",".join(sorted(set(command.loinc_codes))),
                            claim_id=command.claim.claim_id,
                            submission_number=command.claim.submission_number,
                            request_number=request_number,
                            solicited=command.solicited,
                            state="intent_recorded",
                            attempts=1,
                        )
                    )
            except IntegrityError:
                pass
            else:
                return AttachmentState("intent_recorded", None, None, 1)
            async with session.begin():
                row = await session.scalar(
                    select(AttachmentRow)
                    .where(AttachmentRow.attachment_control_number == control_number)
                    .with_for_update()
                )
                assert row is not None, "a row that violated the key exists"
                if row.state not in FINAL_STATES:
                    row.attempts += 1
                    row.updated_at = utcnow()
                return _state(row)

    async def claim_send(self, control_number: str) -> bool:
        """``intent_recorded`` -> ``sending``; ``False`` if the row was not ``intent_recorded``."""
        return await self._move(control_number, "intent_recorded", state="sending")

    async def release(self, control_number: str) -> None:
        """``sending`` -> ``intent_recorded``: the POST surely did not reach Availity."""
        await self._move(control_number, "sending", state="intent_recorded")

    async def sent(self, control_number: str, availity_request_id: int) -> None:
        await self._move(
            control_number, "sending", state="sent", availity_request_id=availity_request_id
        )

    async def finish(self, control_number: str, state: str, result: AttachmentResult) -> None:
        await self._update(control_number, state=state, result=result.model_dump(mode="json"))

    async def get(self, control_number: str) -> AttachmentState | None:
        async with self._sessions() as session:
            row = await session.get(AttachmentRow, control_number)
            return _state(row) if row is not None else None

    async def _move(self, control_number: str, expected: str, **values: Any) -> bool:
        async with self._sessions() as session, session.begin():
            moved = await session.execute(
                update(AttachmentRow)
                .where(
                    AttachmentRow.attachment_control_number == control_number,
                    AttachmentRow.state == expected,
                )
                .values(updated_at=utcnow(), **values)
            )
            return bool(moved.rowcount == 1)  # type: ignore[attr-defined] # CursorResult

    async def _update(self, control_number: str, **values: Any) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(AttachmentRow)
                .where(AttachmentRow.attachment_control_number == control_number)
                .values(updated_at=utcnow(), **values)
            )
