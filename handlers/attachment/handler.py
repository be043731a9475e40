"""The ``attachment`` handler: sends a claim's documents to the payer through Availity, once.

For each ``AttachmentRequest`` on ``TopicSet.attachment_requests``, keyed by its attachment
control number (ACN, :mod:`handlers.attachment.submission`):

1. **intent** -- the ``attachment_submissions`` row is created as ``intent_recorded`` and
   committed (or the existing row is read);
2. **claim** -- documents are gathered and the submission is validated locally; then the row
   moves ``intent_recorded`` -> ``sending`` in its own commit (only one attempt can win);
3. **send** -- one POST; its id is committed right after (``sent``);
4. **poll** -- the status until a final value (``accepted`` / ``rejected``) or the deadline (the
   row stays ``sent`` and an ``outcome="pending"`` result is published; a re-delivered command
   polls again).

Exactly once: a POST is made only from a row this attempt moved out of ``intent_recorded``. A row
found in ``sending`` means an earlier attempt may have reached Availity and died before it
recorded the answer (a crash, a timeout, a 5xx after sending). Availity offers no idempotency key
and no way to look a submission up by its request number, so such a row is never re-sent: it is
reconciled to ``needs_review`` for a person, and published as ``outcome="pending"`` with
``status="needs_review"``. Errors that prove the POST did not arrive (no connection, 429, 503,
a refused token) move the row back to ``intent_recorded`` and are retried by the runtime.

Missing or unacceptable documents and local validation failures end ``failed``;
``parameterViolations`` end ``rejected``; both are published, not retried. Their ``violations``
are ``"path: message"`` entries (``documents: ...`` for the document store). Re-delivered
commands whose row is final re-publish the stored result. Logs carry command ids, claim ids,
ACNs, states and Availity ids; never PHI, file names or tokens.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from claimflow.settings import MissingSecretError, Settings
from handlers.attachment.store import FINAL_STATES, AttachmentStore
from handlers.attachment.submission import (
    attachment_control_number,
    build_submission,
    request_number_of,
)
from handlers.documents import DocumentStore, DocumentStoreError
from handlers.followup.commands import AttachmentRequest, AttachmentResult
from handlers.followup_state.outbound import decode_command, publish_model
from handlers.ledger.database import create_engine
from handlers.partners.availity import (
    AvailityAuthError,
    AvailityClient,
    AvailityInvalidSubmissionError,
    AvailityNotFoundError,
    AvailityParameterViolationsError,
    AvailityRequestRejectedError,
    AvailityStatusPendingError,
    AvailitySubmissionUnconfirmedError,
    ParameterViolation,
)
from handlers.partners.errors import PartnerError
from handlers.runtime import HandlerContext, InboundMessage, Publisher, TransientError
from router.topics import TopicSet

__all__ = ["NEEDS_REVIEW_STATUS", "AttachmentHandler", "build_attachment_handler"]

_log = structlog.get_logger(__name__)

#: ``AttachmentResult.status`` of a submission parked for a person.
NEEDS_REVIEW_STATUS = "needs_review"
_REJECTED_STATUSES = frozenset({"REJECTED", "FAILED", "ERROR"})


def _now() -> datetime:
    return datetime.now(UTC)


class _Outcome(Exception):  # noqa: N818 - control flow inside this module, not an error
    """Ends an attempt with a row state and a result to publish."""

    def __init__(self, state: str, result: AttachmentResult) -> None:
        super().__init__(state)
        self.state = state
        self.result = result


class AttachmentHandler:
    """Runs in ``claimflow handle attachment``; opens its database and client in ``start``."""

    name = "attachment"

    def __init__(self, *, settings: Settings, topics: TopicSet, publisher: Publisher) -> None:
        settings.require_secret("availity", "client_secret")
        for field in ("submitter_id", "submitter_state"):
            if not getattr(settings.availity, field):
                raise MissingSecretError(f"CLAIMFLOW_AVAILITY__{field.upper()}")
        self._settings = settings
        self._topics = topics
        self._publisher = publisher
        self._documents = DocumentStore(
            settings.handlers.document_store, max_bytes=settings.handlers.max_document_bytes
        )
        self._engine: AsyncEngine | None = None
        self._client: AvailityClient | None = None
        self._store: AttachmentStore | None = None

    async def start(self) -> None:
        self._engine = create_engine(self._settings.database)
        self._store = AttachmentStore(self._engine)
        self._client = AvailityClient(settings=self._settings.availity)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        if self._engine is not None:
            await self._engine.dispose()

    @property
    def _ready(self) -> tuple[AttachmentStore, AvailityClient]:
        if self._store is None or self._client is None:
            raise RuntimeError("the handler was not started")
        return self._store, self._client

    def topics(self, topic_set: TopicSet) -> list[str]:
        return [topic_set.attachment_requests]

    async def handle(self, message: InboundMessage) -> None:
        command = decode_command(message, AttachmentRequest)
        acn = attachment_control_number(command)
        log = _log.bind(command_id=command.command_id, claim_id=command.claim.claim_id, acn=acn)
        store, _ = self._ready
        request_number = request_number_of(command, acn)
        row = await store.record_intent(
            command, control_number=acn, request_number=request_number or ""
        )
        if row.state in FINAL_STATES and row.result is not None:
            log.info("attachment.republished", state=row.state)
            await self._publish(command, row.result)
            return
        try:
            if row.state == "sending":
                raise self._needs_review(command, acn, "an earlier attempt may have sent it")
            request_id = row.availity_request_id
            if row.state == "intent_recorded":
                request_id = await self._send(command, acn, request_number, log)
            assert request_id is not None, "a sent row has its Availity id"
            outcome = await self._poll(command, acn, request_id)
        except _Outcome as done:
            outcome = done
        await store.finish(acn, outcome.state, outcome.result)
        log.info(
            "attachment.finished",
            state=outcome.state,
            outcome=outcome.result.outcome,
            availity_request_id=outcome.result.availity_request_id,
            attempts=row.attempts,
        )
        await self._publish(command, outcome.result)

    async def _send(
        self,
        command: AttachmentRequest,
        acn: str,
        request_number: str | None,
        log: structlog.typing.FilteringBoundLogger,
    ) -> int:
        store, client = self._ready
        if request_number is None:
            raise self._failed(
                command, acn, ["encounter.requestNumber: a solicited attachment needs the payer's"]
            )
        try:
            documents = self._documents.gather(
                command.claim.submission_number, list(command.loinc_codes)
            )
            submission = build_submission(
                command, documents, request_number=request_number, settings=self._settings.availity
            )
        except DocumentStoreError as exc:
            raise self._failed(command, acn, [f"documents: {exc}"]) from None
        except AvailityInvalidSubmissionError as exc:
            raise self._failed(command, acn, _violations(exc.violations)) from None
        if not await store.claim_send(acn):
            raise TransientError("the attachment's row changed under this attempt")
        log.info("attachment.sending", documents=len(documents))
        try:
            request_id = await client.submit_attachment(submission)
        except AvailityParameterViolationsError as exc:
            raise self._result(
                "rejected", command, acn, outcome="rejected", violations=_violations(exc.violations)
            ) from None
        except AvailitySubmissionUnconfirmedError:
            raise self._needs_review(command, acn, "sent without a confirmation") from None
        except (AvailityAuthError, AvailityRequestRejectedError) as exc:
            if isinstance(exc, AvailityAuthError):
                # Refused before it was read: nothing was filed.
                await store.release(acn)
                raise TransientError("Availity refused our credentials") from exc
            raise self._result(
                "rejected", command, acn, outcome="rejected", violations=[f"request: {exc}"]
            ) from None
        except PartnerError as exc:
            if not exc.retriable:
                # An answer we cannot read (no id): it may have been filed.
                raise self._needs_review(command, acn, "answer not understood") from None
            await store.release(acn)
            raise TransientError(f"Availity: {type(exc).__name__} ({exc.status_code})") from exc
        await store.sent(acn, request_id)
        log.info("attachment.sent", availity_request_id=request_id)
        return request_id

    async def _poll(self, command: AttachmentRequest, acn: str, request_id: int) -> _Outcome:
        _, client = self._ready
        try:
            status = await client.wait_for_final_status(request_id)
        except AvailityStatusPendingError as exc:
            return self._result(
                "sent",
                command,
                acn,
                outcome="pending",
                request_id=request_id,
                status=exc.last_status,
            )
        except AvailityNotFoundError:
            return self._needs_review(command, acn, "Availity does not know its id", request_id)
        except PartnerError as exc:
            raise TransientError(f"Availity: {type(exc).__name__} ({exc.status_code})") from exc
        rejected = status.status.upper() in _REJECTED_STATUSES
        return self._result(
            "rejected" if rejected else "accepted",
            command,
            acn,
            outcome="rejected" if rejected else "accepted",
            request_id=request_id,
            status=status.status,
        )

    def _failed(self, command: AttachmentRequest, acn: str, violations: list[str]) -> _Outcome:
        return self._result("failed", command, acn, outcome="failed", violations=violations)

    def _needs_review(
        self, command: AttachmentRequest, acn: str, why: str, request_id: int | None = None
    ) -> _Outcome:
        _log.warning("attachment.needs_review", command_id=command.command_id, acn=acn, reason=why)
        return self._result(
            "needs_review",
            command,
            acn,
            outcome="pending",
            request_id=request_id,
            status=NEEDS_REVIEW_STATUS,
            violations=[f"reconciliation: {why}; not re-sent, a person must check"],
        )

    def _result(
        self,
        state: str,
        command: AttachmentRequest,
        acn: str,
        *,
        outcome: str,
        request_id: int | None = None,
        status: str | None = None,
        violations: list[str] | None = None,
    ) -> _Outcome:
        result = AttachmentResult.model_validate(
            {
                "command_id": command.command_id,
                "claim_id": command.claim.claim_id,
                "submission_number": command.claim.submission_number,
                "outcome": outcome,
                "availity_request_id": request_id,
                "attachment_control_number": acn,
                "status": status,
                "violations": violations or [],
                "finished_at": _now(),
            }
        )
        return _Outcome(state, result)

    async def _publish(self, command: AttachmentRequest, result: AttachmentResult) -> None:
        await publish_model(
            self._publisher,
            self._topics.attachment_results,
            result,
            key=command.claim.submission_number,
            source_id=command.command_id,
            purpose=f"attachment-result:{result.outcome}:{result.status}",
            schema=result.schema_name,
            test=command.test,
        )


def _violations(violations: tuple[ParameterViolation, ...]) -> list[str]:
    return [f"{v.path}: {v.message}" for v in violations]


def build_attachment_handler(context: HandlerContext) -> AttachmentHandler:
    return AttachmentHandler(
        settings=context.settings, topics=context.topics, publisher=context.publisher
    )
