"""The ``attachment_submissions`` rows: the record that decides whether a POST may be made.

``record_intent`` records a command (what to send, its lane, its deadline) due at once; the
poller's steps (:mod:`handlers.followups.attachment.steps`) move it on, each write its own committed
transaction conditional on the step's lease. ``claim_send`` moves ``intent_recorded`` to
``sending`` only if the row is still ``intent_recorded`` and still this step's, and is committed
before the POST: of two attempts at most one sends, and a row found in ``sending`` later is
never sent again (``needs_review``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from claimflow.tracing import current_traceparent
from handlers.followups.state.tables import AttachmentRow
from handlers.followups.state.timers import Lease, TimerStore, aware, utcnow
from router.followups import AttachmentRequest, AttachmentResult

__all__ = ["FINAL_STATES", "AttachmentState", "AttachmentStore"]

#: States whose stored result is re-published as it is: nothing more is sent or polled.
FINAL_STATES = frozenset({"accepted", "rejected", "failed", "needs_review"})

_REPUBLISH_AFTER = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class AttachmentState:
    state: str
    availity_request_id: int | None
    result: AttachmentResult | None
    attempts: int
    command: AttachmentRequest | None = None
    deadline_at: datetime | None = None
    due_at: datetime | None = None
    polls: int = 0
    failed_calls: int = 0
    last_status: str | None = None
    last_error: str | None = None


def _state(row: AttachmentRow) -> AttachmentState:
    result = AttachmentResult.model_validate(row.result) if row.result is not None else None
    command = AttachmentRequest.model_validate(row.command) if row.command is not None else None
    return AttachmentState(
        state=row.state,
        availity_request_id=row.availity_request_id,
        result=result,
        attempts=row.attempts,
        command=command,
        deadline_at=aware(row.deadline_at),
        due_at=aware(row.due_at),
        polls=row.polls,
        failed_calls=row.failed_calls,
        last_status=row.last_status,
        last_error=row.last_error,
    )


class AttachmentStore(TimerStore[AttachmentRow]):
    table = AttachmentRow
    key_name = "attachment_control_number"

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)

    async def record_intent(
        self,
        command: AttachmentRequest,
        *,
        control_number: str,
        request_number: str,
        lane: str = "production",
        deadline_seconds: float = 900,
    ) -> AttachmentState:
        """The row of ``control_number``, created ``intent_recorded`` (due now) if new.

        A re-delivered command whose earlier run ended pending at its deadline (``sent``, no
        timer) re-arms the timer with a fresh deadline: its status is polled again, never sent.
        """
        now = utcnow()
        deadline = now + timedelta(seconds=deadline_seconds)
        stored = command.model_dump(mode="json", by_alias=True)
        async with self._writer, self._sessions() as session:
            try:
                async with session.begin():
                    row = AttachmentRow(
                        attachment_control_number=control_number,
                        command_id=command.command_id,
                        loinc_codes=",".join(sorted(set(command.loinc_codes))),
                        claim_id=command.claim.claim_id,
                        submission_number=command.claim.submission_number,
                        request_number=request_number,
                        solicited=command.solicited,
                        state="intent_recorded",
                        attempts=1,
                        command=stored,
                        lane=lane,
                        due_at=now,
                        deadline_at=deadline,
                        polls=0,
                        failed_calls=0,
                        traceparent=current_traceparent(),
                    )
                    session.add(row)
                return _state(row)
            except IntegrityError:
                pass
            async with session.begin():
                found = await session.get(AttachmentRow, control_number, with_for_update=True)
                assert found is not None, "a row that violated the key exists"
                if found.state not in FINAL_STATES:
                    found.attempts += 1
                    found.updated_at = now
                    if found.due_at is None:
                        found.command = stored
                        found.due_at = now
                        found.deadline_at = deadline
                        found.failed_calls = 0
                        found.result = None
                return _state(found)

    async def get(self, control_number: str) -> AttachmentState | None:
        async with self._sessions() as session:
            row = await session.get(AttachmentRow, control_number)
            return _state(row) if row is not None else None

    async def state_of(self, lease: Lease) -> AttachmentState | None:
        row = await self.load(lease)
        return _state(row) if row is not None else None

    async def claim_send(self, lease: Lease) -> bool:
        """``intent_recorded`` -> ``sending``, committed before the POST."""
        return await self._move(lease, "intent_recorded", state="sending")

    async def release(self, lease: Lease, *, after: float, error: str) -> bool:
        """``sending`` -> ``intent_recorded``: the POST surely did not reach Availity."""
        table = self.table
        return await self._move(
            lease,
            "sending",
            state="intent_recorded",
            due_at=utcnow() + timedelta(seconds=after),
            lease_token=None,
            failed_calls=table.failed_calls + 1,
            last_error=error[:200],
        )

    async def sent(self, lease: Lease, availity_request_id: int, *, poll_after: float) -> bool:
        return await self._move(
            lease,
            "sending",
            state="sent",
            availity_request_id=availity_request_id,
            due_at=utcnow() + timedelta(seconds=poll_after),
            lease_token=None,
        )

    async def finish(self, lease: Lease, state: str, result: AttachmentResult) -> bool:
        """Store the result; the row stays due shortly until :meth:`published` says it is out."""
        values: dict[str, Any] = {
            "state": state,
            "result": result.model_dump(mode="json"),
            "due_at": utcnow() + _REPUBLISH_AFTER,
            "lease_token": None,
        }
        return await self.write(lease, **values)

    async def _move(self, lease: Lease, expected: str, **values: Any) -> bool:
        async with self._writer, self._sessions() as session, session.begin():
            moved = await session.execute(
                update(AttachmentRow)
                .where(
                    AttachmentRow.attachment_control_number == lease.key,
                    AttachmentRow.lease_token == lease.token,
                    AttachmentRow.state == expected,
                )
                .values(updated_at=utcnow(), **values)
            )
            return bool(moved.rowcount == 1)  # type: ignore[attr-defined] # CursorResult
