"""One step of a status check's timer: at most one Integrex call, then the next due time.

Run by the status-check handler's :class:`~handlers.followups.state.timers.DuePoller` for a
leased ``status_checks`` row (:mod:`handlers.followups.status_check.store` draws the states):

* final row (a result whose publication was not confirmed) -> publish it again;
* past its deadline, or out of failed calls -> ``timed_out`` (with the Integrex id, if any);
* at the partner's request budget -> the timer waits for the budget, nothing is sent;
* ``requested`` -> commit ``submitting``, POST once; the id is committed (``submitted``);
* ``submitting`` -> a POST that may have gone out: ``unknown``, never sent again;
* ``submitted`` -> GET once: 202 pushes the timer (doubling intervals), 200 finishes.

Failures push the timer (429: Retry-After as a floor; an open circuit: its reset time) and
count against the command's ``max_failed_calls``. Logs carry ids and states, never PHI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog

from claimflow.settings import IntegrexSettings
from handlers.followups.partners.budget import RequestBudget
from handlers.followups.partners.errors import PartnerError
from handlers.followups.partners.integrex import (
    IntegrexCircuitOpenError,
    IntegrexClient,
    IntegrexInquiryUnconfirmedError,
    IntegrexRequestRejectedError,
    IntegrexResultNotFoundError,
)
from handlers.followups.state.schedule import failure_delay, poll_delay
from handlers.followups.state.timers import Lease
from handlers.followups.status_check.inquiry import IncompleteClaimError, inquiry_for, result_from
from handlers.followups.status_check.store import FINAL_STATES, StatusCheckState, StatusCheckStore
from router.followups import StatusCheckRequest, StatusCheckResult

__all__ = ["StatusCheckSteps"]

_log = structlog.get_logger(__name__)

Publish = Callable[[StatusCheckRequest, StatusCheckResult], Awaitable[None]]


def _now() -> datetime:
    return datetime.now(UTC)


class StatusCheckSteps:
    def __init__(
        self,
        *,
        store: StatusCheckStore,
        client: IntegrexClient,
        budget: RequestBudget,
        settings: IntegrexSettings,
        publish: Publish,
    ) -> None:
        self._store = store
        self._client = client
        self._budget = budget
        self._settings = settings
        self._publish = publish

    async def __call__(self, lease: Lease) -> None:
        row = await self._store.state_of(lease)
        if row is None or row.command is None:
            return  # the lease was lost, or the row is already published
        command = row.command
        log = _log.bind(command_id=command.command_id, claim_id=command.claim.claim_id)
        if row.state in FINAL_STATES and row.result is not None:
            await self._out(lease, command, row.result)
            return
        ended = self._past_budget(command, row)
        if ended is not None:
            await self._end(lease, command, ended, log, state="timed_out")
            return
        wait = await self._budget.reserve()
        if wait > 0:
            await self._store.reschedule(lease, after=wait)
            return
        if row.state == "requested":
            await self._submit(lease, command, row, log)
        elif row.state == "submitting":
            await self._end(lease, command, self._unknown(command), log, state="unknown")
        else:
            await self._poll(lease, command, row, log)

    def _past_budget(
        self, command: StatusCheckRequest, row: StatusCheckState
    ) -> StatusCheckResult | None:
        if row.deadline_at is not None and _now() >= row.deadline_at:
            why = f"no answer within {self._settings.poll_deadline_seconds:g} s"
        elif row.failed_calls >= self._settings.max_failed_calls:
            why = f"Integrex failed {row.failed_calls} calls in a row; giving up for now"
        else:
            return None
        return _result(command, "timed_out", row.integrex_request_id, why)

    async def _submit(
        self,
        lease: Lease,
        command: StatusCheckRequest,
        row: StatusCheckState,
        log: structlog.typing.FilteringBoundLogger,
    ) -> None:
        try:
            inquiry = inquiry_for(command)
        except IncompleteClaimError as exc:
            await self._end(lease, command, _result(command, "failed", None, str(exc)), log)
            return
        if not await self._store.submitting(lease):
            return
        try:
            request_id = await self._client.submit_claim_status(inquiry)
        except IntegrexInquiryUnconfirmedError:
            await self._end(lease, command, self._unknown(command), log, state="unknown")
            return
        except IntegrexRequestRejectedError as exc:
            detail = f"Integrex refused the inquiry ({exc.status_code})"
            await self._end(lease, command, _result(command, "failed", None, detail), log)
            return
        except PartnerError as exc:
            # Not sent (no connection, no token, 429, 5xx, open circuit): try again later.
            await self._store.not_sent(lease, after=self._delay(row, exc), error=_describe(exc))
            log.info(
                "status_check.not_sent", error=_describe(exc), failed_calls=row.failed_calls + 1
            )
            return
        log.info("status_check.submitted", integrex_request_id=request_id)
        await self._store.submitted(
            lease, request_id, poll_after=self._settings.poll_interval_seconds
        )

    async def _poll(
        self,
        lease: Lease,
        command: StatusCheckRequest,
        row: StatusCheckState,
        log: structlog.typing.FilteringBoundLogger,
    ) -> None:
        request_id = row.integrex_request_id
        assert request_id is not None, "a submitted row has its Integrex id"
        try:
            entries = await self._client.fetch_claim_info(request_id)
        except IntegrexResultNotFoundError:
            log.info("status_check.forgotten", integrex_request_id=request_id)
            await self._store.forget_request(lease)
            return
        except IntegrexRequestRejectedError as exc:
            detail = f"Integrex refused the result request ({exc.status_code})"
            await self._end(lease, command, _result(command, "failed", request_id, detail), log)
            return
        except PartnerError as exc:
            await self._store.reschedule(
                lease, after=self._delay(row, exc), failed=True, error=_describe(exc)
            )
            return
        if entries is None:
            after = poll_delay(
                row.polls,
                first=self._settings.poll_interval_seconds,
                longest=self._settings.poll_max_interval_seconds,
            )
            await self._store.reschedule(lease, after=after, polled=True)
            return
        await self._end(lease, command, result_from(command, request_id, entries, at=_now()), log)

    def _delay(self, row: StatusCheckState, error: PartnerError) -> float:
        if isinstance(error, IntegrexCircuitOpenError):
            return self._settings.circuit_reset_seconds
        return failure_delay(
            row.failed_calls + 1,
            error,
            base=self._settings.backoff_base_seconds,
            longest=self._settings.backoff_max_seconds,
        )

    def _unknown(self, command: StatusCheckRequest) -> StatusCheckResult:
        return _result(
            command,
            "timed_out",
            None,
            "Integrex did not confirm the inquiry; not sent again (a second inquiry is billed); "
            "the follow-up rules may ask later",
        )

    async def _end(
        self,
        lease: Lease,
        command: StatusCheckRequest,
        result: StatusCheckResult,
        log: structlog.typing.FilteringBoundLogger,
        *,
        state: str | None = None,
    ) -> None:
        if not await self._store.finish(lease, result, state=state):
            return
        log.info(
            "status_check.finished",
            outcome=result.outcome,
            category_code=result.category_code,
            integrex_request_id=result.integrex_request_id,
        )
        await self._out(lease, command, result)

    async def _out(
        self, lease: Lease, command: StatusCheckRequest, result: StatusCheckResult
    ) -> None:
        await self._publish(command, result)
        await self._store.published(lease.key)


def _result(
    command: StatusCheckRequest, outcome: str, request_id: str | None, detail: str
) -> StatusCheckResult:
    return StatusCheckResult.model_validate(
        {
            "command_id": command.command_id,
            "claim_id": command.claim.claim_id,
            "submission_number": command.claim.submission_number,
            "outcome": outcome,
            "integrex_request_id": request_id,
            "detail": detail,
            "answered_at": _now(),
        }
    )


def _describe(error: PartnerError) -> str:
    status = f" ({error.status_code})" if error.status_code is not None else ""
    return f"{type(error).__name__}{status}"
