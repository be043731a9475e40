"""One step of an attachment's timer: at most one Availity call, then the next due time.

Run by the attachment handler's :class:`~handlers.followups.state.timers.DuePoller` for a leased
``attachment_submissions`` row:

* a stored result not yet confirmed published -> publish it again;
* past its deadline, or out of failed calls -> ``failed`` if it was never sent, else a
  ``pending`` result with the last status (a re-delivered command polls again, never re-sends);
* at the partner's request budget -> the timer waits for the budget, nothing is sent;
* ``intent_recorded`` -> documents are gathered and the submission validated (``failed`` if
  impossible); ``sending`` is committed; one POST; its id is committed (``sent``);
* ``sending`` -> a POST that may have gone out: ``needs_review``, never sent again;
* ``sent`` -> one status GET: a final accepting status -> ``accepted``, a final rejecting one ->
  ``rejected``; ``SUBMITTED``, in-progress and unknown values push the timer.

Errors that prove nothing was filed (no token, no connection, 429, 503, a refused token, an
open circuit) put the row back to ``intent_recorded`` and push the timer (a 429's Retry-After
as a floor); they count against ``max_failed_calls``. A POST answered with ``parameterViolations``
or Availity's general error body ends ``rejected`` with its reasons. Logs carry command ids,
claim ids, ACNs, states and Availity ids; never PHI, file names or tokens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog

from claimflow.settings import AvailitySettings
from handlers.followups.attachment.results import Outcome, failed, needs_review, outcome, violations
from handlers.followups.attachment.store import FINAL_STATES, AttachmentState, AttachmentStore
from handlers.followups.attachment.submission import build_submission, request_number_of
from handlers.followups.documents import DocumentStore, DocumentStoreError
from handlers.followups.partners.availity import (
    AttachmentSubmission,
    AvailityAuthError,
    AvailityCircuitOpenError,
    AvailityClient,
    AvailityInvalidSubmissionError,
    AvailityNotFoundError,
    AvailityParameterViolationsError,
    AvailityRequestRejectedError,
    AvailitySubmissionUnconfirmedError,
)
from handlers.followups.partners.budget import RequestBudget
from handlers.followups.partners.errors import PartnerError
from handlers.followups.state.schedule import failure_delay, poll_delay
from handlers.followups.state.timers import Lease
from router.followups import AttachmentRequest, AttachmentResult

__all__ = ["AttachmentSteps"]

_log = structlog.get_logger(__name__)

Publish = Callable[[AttachmentRequest, AttachmentResult], Awaitable[None]]


class AttachmentSteps:
    def __init__(
        self,
        *,
        store: AttachmentStore,
        client: AvailityClient,
        budget: RequestBudget,
        documents: DocumentStore,
        settings: AvailitySettings,
        publish: Publish,
    ) -> None:
        self._store = store
        self._client = client
        self._budget = budget
        self._documents = documents
        self._settings = settings
        self._publish = publish

    async def __call__(self, lease: Lease) -> None:
        row = await self._store.state_of(lease)
        if row is None or row.command is None:
            return  # the lease was lost, or the row is already published
        command = row.command
        acn = lease.key
        log = _log.bind(command_id=command.command_id, claim_id=command.claim.claim_id, acn=acn)
        if row.result is not None:
            await self._out(lease, command, row.result)
            return
        if row.state in FINAL_STATES:
            return
        try:
            self._within_budget(command, acn, row)
            if row.state == "sending":
                raise needs_review(command, acn, "an earlier attempt may have sent it")
            wait = await self._budget.reserve()
            if wait > 0:
                await self._store.reschedule(lease, after=wait)
                return
            if row.state == "intent_recorded":
                await self._send(lease, command, acn, row, log)
            else:
                await self._poll(lease, command, acn, row)
        except Outcome as ended:
            await self._end(lease, command, ended, log)

    def _within_budget(self, command: AttachmentRequest, acn: str, row: AttachmentState) -> None:
        """Raise the ``Outcome`` of a command whose deadline or failed calls are spent."""
        now = datetime.now(UTC)
        if row.deadline_at is not None and now >= row.deadline_at:
            why = f"not done within {self._settings.poll_deadline_seconds:g} s"
        elif row.failed_calls >= self._settings.max_failed_calls:
            why = f"Availity failed {row.failed_calls} calls; giving up for now"
        else:
            return
        if row.state == "sent":
            raise outcome(
                "sent",
                command,
                acn,
                result="pending",
                request_id=row.availity_request_id,
                status=row.last_status,
            )
        if row.state == "intent_recorded":
            last = f" (last: {row.last_error})" if row.last_error else ""
            raise failed(command, acn, [f"availity: not sent, {why}{last}"])

    def _prepare(self, command: AttachmentRequest, acn: str) -> AttachmentSubmission:
        request_number = request_number_of(command, acn)
        if request_number is None:
            raise failed(
                command, acn, ["encounter.requestNumber: a solicited attachment needs the payer's"]
            )
        try:
            documents = self._documents.gather(
                command.claim.submission_number, list(command.loinc_codes)
            )
            return build_submission(
                command,
                documents,
                request_number=request_number,
                settings=self._settings,
                control_number=acn,
            )
        except DocumentStoreError as exc:
            raise failed(command, acn, [f"documents: {exc}"]) from None
        except AvailityInvalidSubmissionError as exc:
            raise failed(command, acn, violations(exc.violations)) from None

    async def _send(
        self,
        lease: Lease,
        command: AttachmentRequest,
        acn: str,
        row: AttachmentState,
        log: structlog.typing.FilteringBoundLogger,
    ) -> None:
        submission = self._prepare(command, acn)
        if not await self._store.claim_send(lease):
            return
        log.info("attachment.sending", payloads=len(submission.payloads))
        try:
            request_id = await self._client.submit_attachment(submission)
        except AvailityParameterViolationsError as exc:
            found = violations(exc.violations)
            raise outcome("rejected", command, acn, result="rejected", violations=found) from None
        except AvailitySubmissionUnconfirmedError:
            raise needs_review(command, acn, "sent without a confirmation") from None
        except AvailityRequestRejectedError as exc:
            found = list(exc.reasons) or [f"request: Availity answered {exc.status_code}"]
            raise outcome("rejected", command, acn, result="rejected", violations=found) from None
        except PartnerError as exc:
            if not exc.retriable and not isinstance(exc, AvailityAuthError):
                # An answer we cannot read (no id): it may have been filed.
                raise needs_review(command, acn, "answer not understood") from None
            # No token, no connection, 429, 503, a refused token, an open circuit: not filed.
            after = self._delay(row, exc)
            await self._store.release(lease, after=after, error=_describe(exc))
            log.info("attachment.not_sent", error=_describe(exc), retry_in=round(after, 3))
            return
        await self._store.sent(lease, request_id, poll_after=self._settings.poll_interval_seconds)
        log.info("attachment.sent", availity_request_id=request_id)

    async def _poll(
        self, lease: Lease, command: AttachmentRequest, acn: str, row: AttachmentState
    ) -> None:
        request_id = row.availity_request_id
        assert request_id is not None, "a sent row has its Availity id"
        try:
            status = await self._client.attachment_status(request_id)
        except AvailityNotFoundError:
            raise needs_review(command, acn, "Availity does not know its id", request_id) from None
        except PartnerError as exc:
            await self._store.reschedule(
                lease, after=self._delay(row, exc), failed=True, error=_describe(exc)
            )
            return
        if not status.final:
            after = poll_delay(
                row.polls,
                first=self._settings.poll_interval_seconds,
                longest=self._settings.poll_max_interval_seconds,
            )
            await self._store.reschedule(lease, after=after, polled=True, last_status=status.status)
            return
        verdict = "accepted" if status.accepted else "rejected"
        raise outcome(
            verdict, command, acn, result=verdict, request_id=request_id, status=status.status
        )

    def _delay(self, row: AttachmentState, error: PartnerError) -> float:
        if isinstance(error, AvailityCircuitOpenError):
            return self._settings.circuit_reset_seconds
        return failure_delay(
            row.failed_calls + 1,
            error,
            base=self._settings.backoff_base_seconds,
            longest=self._settings.backoff_max_seconds,
        )

    async def _end(
        self,
        lease: Lease,
        command: AttachmentRequest,
        done: Outcome,
        log: structlog.typing.FilteringBoundLogger,
    ) -> None:
        if not await self._store.finish(lease, done.state, done.result):
            return
        log.info(
            "attachment.finished",
            state=done.state,
            outcome=done.result.outcome,
            availity_request_id=done.result.availity_request_id,
        )
        await self._out(lease, command, done.result)

    async def _out(
        self, lease: Lease, command: AttachmentRequest, result: AttachmentResult
    ) -> None:
        await self._publish(command, result)
        await self._store.published(lease.key)


def _describe(error: PartnerError) -> str:
    status = f" ({error.status_code})" if error.status_code is not None else ""
    return f"{type(error).__name__}{status}"
