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
from handlers.followups.state.budgets import RequestBudgetStore
from handlers.followups.state.outbound import decode_command, publish_model
from handlers.followups.state.resources import PartnerResources
from handlers.followups.state.timers import DuePoller
from handlers.runtime import HandlerContext, InboundMessage, Publisher
from router.followups import AttachmentRequest, AttachmentResult
from router.topics import TopicSet

__all__ = ["NEEDS_REVIEW_STATUS", "AttachmentHandler", "build_attachment_handler"]

_log = structlog.get_logger(__name__)


class AttachmentHandler:
    """Runs in ``claimflow handle attachment``; opens its database, client and poller."""

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
        self._metrics = metrics if metrics is not None else PartnerMetrics()
        self._documents = DocumentStore(
            settings.handlers.document_store, max_bytes=settings.handlers.max_document_bytes
        )
        # One attempt per call: the timer is the only layer that tries again.
        availity = settings.availity.model_copy(update={"retry_max_attempts": 1})
        self._resources = PartnerResources(
            database=settings.database,
            open_client=lambda: AvailityClient(settings=availity, metrics=self._metrics),
            open_store=AttachmentStore,
        )
        self._poller: DuePoller | None = None

    async def start(self) -> None:
        await self._resources.open()
        store, client = self._resources.ready
        budget = RequestBudget(
            partner="availity",
            per_second=self._settings.availity.requests_per_second,
            per_day=self._settings.availity.daily_request_limit,
            counter=RequestBudgetStore(self._resources.engine),
            metrics=self._metrics,
        )
        steps = AttachmentSteps(
            store=store,
            client=client,
            budget=budget,
            documents=self._documents,
            settings=self._settings.availity,
            publish=self._publish,
        )
        lane = self._settings.handlers.lane
        follow_up_settings = self._settings.followups
        self._poller = DuePoller(
            name=self.name,
            claim=lambda n: store.claim_due(
                lane=lane, limit=n, lease_seconds=follow_up_settings.lease_seconds
            ),
            step=steps,
            settings=follow_up_settings,
            report=lambda: self._report_states(store, lane),
        )
        self._poller.start()

    async def _report_states(self, store: AttachmentStore, lane: str) -> None:
        self._metrics.followup_states(self.name, await store.count_by_state(lane))

    async def stop(self) -> None:
        try:
            if self._poller is not None:
                await self._poller.stop()
        finally:
            await self._resources.close()

    @property
    def poller(self) -> DuePoller | None:
        return self._poller

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
        if self._poller is not None:
            self._poller.wake()

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
