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

import structlog

from claimflow.settings import MissingSecretError, Settings
from handlers.attachment.results import (
    NEEDS_REVIEW_STATUS,
    Outcome,
    failed,
    needs_review,
    outcome,
    violations,
)
from handlers.attachment.store import FINAL_STATES, AttachmentStore
from handlers.attachment.submission import (
    attachment_control_number,
    build_submission,
    request_number_of,
)
from handlers.documents import DocumentStore, DocumentStoreError
from handlers.followup_state.outbound import decode_command, publish_model
from handlers.followup_state.resources import PartnerResources
from handlers.partners.availity import (
    AttachmentSubmission,
    AvailityAuthError,
    AvailityClient,
    AvailityInvalidSubmissionError,
    AvailityNotFoundError,
    AvailityParameterViolationsError,
    AvailityRequestRejectedError,
    AvailityStatusPendingError,
    AvailitySubmissionUnconfirmedError,
)
from handlers.partners.errors import PartnerError
from handlers.partners.metrics import PartnerMetrics
from handlers.runtime import HandlerContext, InboundMessage, Publisher, TransientError
from router.followups import AttachmentRequest, AttachmentResult
from router.topics import TopicSet

__all__ = ["NEEDS_REVIEW_STATUS", "AttachmentHandler", "build_attachment_handler"]

_log = structlog.get_logger(__name__)

_REJECTED_STATUSES = frozenset({"REJECTED", "FAILED", "ERROR"})


class AttachmentHandler:
    """Runs in ``claimflow handle attachment``; opens its database and client in ``start``."""

    name = "attachment"

    def __init__(
        self,
        *,
        settings: Settings,
        topics: TopicSet,
        publisher: Publisher,
        metrics: PartnerMetrics | None = None,
    ) -> None:
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
        self._resources = PartnerResources(
            database=settings.database,
            open_client=lambda: AvailityClient(settings=settings.availity, metrics=metrics),
            open_store=AttachmentStore,
        )

    async def start(self) -> None:
        await self._resources.open()

    async def stop(self) -> None:
        await self._resources.close()

    @property
    def _ready(self) -> tuple[AttachmentStore, AvailityClient]:
        return self._resources.ready

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
                raise needs_review(command, acn, "an earlier attempt may have sent it")
            request_id = row.availity_request_id
            if row.state == "intent_recorded":
                submission = self._prepare(command, acn, request_number)
                request_id = await self._post(command, acn, submission, log)
            assert request_id is not None, "a sent row has its Availity id"
            done = await self._poll(command, acn, request_id)
        except Outcome as ended:
            done = ended
        await store.finish(acn, done.state, done.result)
        log.info(
            "attachment.finished",
            state=done.state,
            outcome=done.result.outcome,
            availity_request_id=done.result.availity_request_id,
            attempts=row.attempts,
        )
        await self._publish(command, done.result)

    def _prepare(
        self, command: AttachmentRequest, acn: str, request_number: str | None
    ) -> AttachmentSubmission:
        """Documents and the validated submission; an ``Outcome`` (failed) if impossible."""
        if request_number is None:
            raise failed(
                command, acn, ["encounter.requestNumber: a solicited attachment needs the payer's"]
            )
        try:
            documents = self._documents.gather(
                command.claim.submission_number, list(command.loinc_codes)
            )
            return build_submission(
                command, documents, request_number=request_number, settings=self._settings.availity
            )
        except DocumentStoreError as exc:
            raise failed(command, acn, [f"documents: {exc}"]) from None
        except AvailityInvalidSubmissionError as exc:
            raise failed(command, acn, violations(exc.violations)) from None

    async def _post(
        self,
        command: AttachmentRequest,
        acn: str,
        submission: AttachmentSubmission,
        log: structlog.typing.FilteringBoundLogger,
    ) -> int:
        """Claim the row, POST once, record the id: the only way anything is sent."""
        store, client = self._ready
        if not await store.claim_send(acn):
            raise TransientError("the attachment's row changed under this attempt")
        log.info("attachment.sending", payloads=len(submission.payloads))
        try:
            request_id = await client.submit_attachment(submission)
        except AvailityParameterViolationsError as exc:
            found = violations(exc.violations)
            raise outcome("rejected", command, acn, result="rejected", violations=found) from None
        except AvailitySubmissionUnconfirmedError:
            raise needs_review(command, acn, "sent without a confirmation") from None
        except AvailityAuthError as exc:
            # Refused before it was read: nothing was filed.
            await store.release(acn)
            raise TransientError("Availity refused our credentials") from exc
        except AvailityRequestRejectedError as exc:
            found = [f"request: {exc}"]
            raise outcome("rejected", command, acn, result="rejected", violations=found) from None
        except PartnerError as exc:
            if not exc.retriable:
                # An answer we cannot read (no id): it may have been filed.
                raise needs_review(command, acn, "answer not understood") from None
            # No connection, 429, 503, an open circuit: it surely did not arrive.
            await store.release(acn)
            raise TransientError(f"Availity: {type(exc).__name__} ({exc.status_code})") from exc
        await store.sent(acn, request_id)
        log.info("attachment.sent", availity_request_id=request_id)
        return request_id

    async def _poll(self, command: AttachmentRequest, acn: str, request_id: int) -> Outcome:
        _, client = self._ready
        try:
            status = await client.wait_for_final_status(request_id)
        except AvailityStatusPendingError as exc:
            return outcome(
                "sent",
                command,
                acn,
                result="pending",
                request_id=request_id,
                status=exc.last_status,
            )
        except AvailityNotFoundError:
            return needs_review(command, acn, "Availity does not know its id", request_id)
        except PartnerError as exc:
            raise TransientError(f"Availity: {type(exc).__name__} ({exc.status_code})") from exc
        verdict = "rejected" if status.status.upper() in _REJECTED_STATUSES else "accepted"
        return outcome(
            verdict, command, acn, result=verdict, request_id=request_id, status=status.status
        )

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


def build_attachment_handler(context: HandlerContext) -> AttachmentHandler:
    return AttachmentHandler(
        settings=context.settings,
        topics=context.topics,
        publisher=context.publisher,
        metrics=PartnerMetrics(registry=context.registry),
    )
