"""The ``attachment`` handler: records each attachment command; a timer sends it, once.

For each ``AttachmentRequest`` on ``TopicSet.attachment_requests``, ``handle`` only

1. records the intent: the ``attachment_submissions`` row keyed by the submission's
   attachment control number (:mod:`handlers.followups.attachment.submission`),
   ``intent_recorded``, due now, with the command, the handler's lane and the deadline
   ``AvailitySettings.poll_deadline_seconds``
   from now (a row that ended pending at its deadline is re-armed to poll again);
2. re-publishes the stored result when the row is already final (a re-delivered command).

It never calls Availity, so it returns in milliseconds and the offset is committed at once.
The :class:`~handlers.followups.state.timers.DuePoller` started in ``start`` gathers the
documents, sends, polls and publishes (:mod:`handlers.followups.attachment.steps`).

Exactly once: a POST is made only from a row the step moved out of ``intent_recorded`` under its
own lease, and ``sending`` is committed before the POST. A row found in ``sending`` means an
earlier attempt may have reached Availity and died before it recorded the answer: Availity
offers no idempotency key and no lookup by control number, so it is never re-sent but parked as
``needs_review`` (published ``outcome="pending"``, ``status="needs_review"``).
"""

from __future__ import annotations

import structlog

from claimflow.settings import MissingSecretError, Settings
from handlers.followups.attachment.results import NEEDS_REVIEW_STATUS
from handlers.followups.attachment.steps import AttachmentSteps
from handlers.followups.attachment.store import FINAL_STATES, AttachmentStore
from handlers.followups.attachment.submission import attachment_control_number, request_number_of
from handlers.followups.documents import DocumentStore
from handlers.followups.partners.availity import AvailityClient
from handlers.followups.partners.budget import RequestBudget
from handlers.followups.partners.metrics import PartnerMetrics
from handlers.followups.state.outbound import decode_command, publish_model
from handlers.followups.state.partner_handler import PartnerRequestHandler
from handlers.runtime import HandlerContext, InboundMessage, Publisher
from router.followups import AttachmentRequest, AttachmentResult
from router.topics import TopicSet

__all__ = ["NEEDS_REVIEW_STATUS", "AttachmentHandler", "build_attachment_handler"]

_log = structlog.get_logger(__name__)


class AttachmentHandler(PartnerRequestHandler[AttachmentStore, AvailityClient]):
    """Runs in ``claimflow handle attachment``; opens its database, client and poller."""

    name = "attachment"
    partner = "availity"

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
        self._documents = DocumentStore(
            settings.handlers.document_store, max_bytes=settings.handlers.max_document_bytes
        )
        # One attempt per call: the timer is the only layer that tries again.
        availity = settings.availity.model_copy(update={"retry_max_attempts": 1})
        super().__init__(
            settings=settings,
            topics=topics,
            publisher=publisher,
            metrics=metrics,
            limits=settings.availity,
            open_client=lambda metrics: AvailityClient(settings=availity, metrics=metrics),
            open_store=AttachmentStore,
        )

    def _steps(
        self, store: AttachmentStore, client: AvailityClient, budget: RequestBudget
    ) -> AttachmentSteps:
        return AttachmentSteps(
            store=store,
            client=client,
            budget=budget,
            documents=self._documents,
            settings=self._settings.availity,
            publish=self._publish,
        )

    def topics(self, topic_set: TopicSet) -> list[str]:
        return [topic_set.attachment_requests]

    async def handle(self, message: InboundMessage) -> None:
        command = decode_command(message, AttachmentRequest)
        acn = attachment_control_number(command)
        log = _log.bind(command_id=command.command_id, claim_id=command.claim.claim_id, acn=acn)
        store, _ = self._resources.ready
        row = await store.record_intent(
            command,
            control_number=acn,
            request_number=request_number_of(command, acn) or "",
            lane=self._settings.handlers.lane,
            deadline_seconds=self._settings.availity.poll_deadline_seconds,
        )
        if row.state in FINAL_STATES and row.result is not None:
            log.info("attachment.republished", state=row.state)
            await self._publish(command, row.result)
            return
        log.info("attachment.recorded", state=row.state, attempts=row.attempts)
        self._wake_poller()

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
