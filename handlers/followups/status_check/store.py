"""The ``status_checks`` rows: one per command, with its durable timer.

``begin`` records a command (what to send, its lane, its deadline) due at once; the poller's
steps (:mod:`handlers.followups.status_check.steps`) move it on, each write its own committed
transaction conditional on the step's lease (:class:`handlers.followups.state.timers.TimerStore`)::

    requested ──(intent)──▶ submitting ──POST answered──▶ submitted ──200──▶ answered
        ▲  │                    │                            │  │
        │  │                    └─sent, no answer──▶ unknown │  └─deadline──▶ timed_out
        │  └──refused / incomplete claim──▶ failed           │
        └──────────── 404: Integrex forgot the id ───────────┘

``submitting`` is committed before the POST: a row found there by a later step was perhaps
sent (a crash, a lease that ran out), and is never sent again (``unknown``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from claimflow.tracing import current_traceparent
from handlers.followups.state.tables import StatusCheckRow
from handlers.followups.state.timers import Lease, TimerStore, aware, utcnow
from router.followups import StatusCheckRequest, StatusCheckResult

__all__ = ["FINAL_STATES", "StatusCheckState", "StatusCheckStore", "needs_person"]

#: States whose result is stored: a re-delivered command re-publishes it and asks nothing.
FINAL_STATES = frozenset({"answered", "failed", "timed_out", "unknown"})

#: Ended without an answer from the payer: a person asks again.
_ENDED_UNANSWERED = frozenset({"failed", "timed_out", "unknown"})
#: 277 claim status categories (code list 507) that ask nothing of billing staff: received
#: (A0, A1, A2, A5), finalized and paid or revised (F0, F1, F3); every P* (pending) waits too.
_NOTHING_TO_DO = frozenset({"A0", "A1", "A2", "A5", "F0", "F1", "F3"})


def needs_person(state: str, result: Mapping[str, Any] | None) -> bool:
    """Whether a status check's row asks billing staff to act (the worklist's partner queue).

    It does when the check ended unanswered (failed, timed out, unknown), or when it was
    answered and the answer is not a plain one (the payer does not know the claim), asks for
    documents, or has a claim status category that is neither pending (P*) nor one that asks
    nothing (received A0-A5, finalized F0/F1/F3). ``result`` is the stored JSON result.
    Kept on the row as ``needs_person`` by every write of its state.
    """
    if state in _ENDED_UNANSWERED:
        return True
    if state != "answered":
        return False
    answer = result or {}
    category = answer.get("category_code") or ""
    return (
        (answer.get("outcome") or "") != "answered"
        or bool(answer.get("needs_documents"))
        or (not category.startswith("P") and category not in _NOTHING_TO_DO)
    )


#: How soon a final row whose result could not be published is looked at again.
_REPUBLISH_AFTER = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class StatusCheckState:
    state: str
    integrex_request_id: str | None
    result: StatusCheckResult | None
    attempts: int
    command: StatusCheckRequest | None = None
    deadline_at: datetime | None = None
    due_at: datetime | None = None
    polls: int = 0
    failed_calls: int = 0


def _state(row: StatusCheckRow) -> StatusCheckState:
    result = StatusCheckResult.model_validate(row.result) if row.result is not None else None
    command = StatusCheckRequest.model_validate(row.command) if row.command is not None else None
    return StatusCheckState(
        state=row.state,
        integrex_request_id=row.integrex_request_id,
        result=result,
        attempts=row.attempts,
        command=command,
        deadline_at=aware(row.deadline_at),
        due_at=aware(row.due_at),
        polls=row.polls,
        failed_calls=row.failed_calls,
    )


class StatusCheckStore(TimerStore[StatusCheckRow]):
    table = StatusCheckRow
    key_name = "command_id"

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)

    async def begin(
        self,
        command: StatusCheckRequest,
        *,
        lane: str = "production",
        deadline_seconds: float = 600,
    ) -> StatusCheckState:
        """The command's row, created ``requested`` and due now if new; counts one delivery."""
        now = utcnow()
        async with self._writer, self._sessions() as session:
            try:
                async with session.begin():
                    row = StatusCheckRow(
                        command_id=command.command_id,
                        claim_id=command.claim.claim_id,
                        submission_number=command.claim.submission_number,
                        state="requested",
                        needs_person=False,
                        attempts=1,
                        command=command.model_dump(mode="json", by_alias=True),
                        lane=lane,
                        due_at=now,
                        deadline_at=now + timedelta(seconds=deadline_seconds),
                        polls=0,
                        failed_calls=0,
                        traceparent=current_traceparent(),
                    )
                    session.add(row)
                return _state(row)
            except IntegrityError:
                pass
            async with session.begin():
                found = await session.get(StatusCheckRow, command.command_id, with_for_update=True)
                assert found is not None, "a row that violated the key exists"
                if found.state not in FINAL_STATES:
                    found.attempts += 1
                    found.updated_at = now
                return _state(found)

    async def get(self, command_id: str) -> StatusCheckState | None:
        async with self._sessions() as session:
            row = await session.get(StatusCheckRow, command_id)
            return _state(row) if row is not None else None

    async def state_of(self, lease: Lease) -> StatusCheckState | None:
        row = await self.load(lease)
        return _state(row) if row is not None else None

    async def submitting(self, lease: Lease) -> bool:
        """The intent to POST, committed before the POST (a later step never re-sends it)."""
        return await self.write(lease, state="submitting", needs_person=False)

    async def submitted(self, lease: Lease, integrex_request_id: str, *, poll_after: float) -> bool:
        """Integrex accepted the inquiry: keep its id; the first poll is due ``poll_after``."""
        return await self.reschedule(
            lease,
            after=poll_after,
            state="submitted",
            needs_person=False,
            integrex_request_id=integrex_request_id,
        )

    async def not_sent(self, lease: Lease, *, after: float, error: str) -> bool:
        """The POST surely did not reach Integrex: back to ``requested``, one failure counted."""
        return await self.reschedule(
            lease, after=after, failed=True, error=error, state="requested", needs_person=False
        )

    async def forget_request(self, lease: Lease) -> bool:
        """Integrex no longer knows the id (its results expire): ask again now."""
        return await self.reschedule(
            lease, after=0, state="requested", needs_person=False, integrex_request_id=None
        )

    async def finish(
        self, lease: Lease, result: StatusCheckResult, *, state: str | None = None
    ) -> bool:
        """Store the result; the row stays due shortly until :meth:`published` says it is out."""
        final = state or ("answered" if result.outcome == "not_found" else result.outcome)
        stored = result.model_dump(mode="json")
        values: dict[str, Any] = {
            "state": final,
            "result": stored,
            "needs_person": needs_person(final, stored),
            "due_at": utcnow() + _REPUBLISH_AFTER,
            "lease_token": None,
        }
        return await self.write(lease, **values)
