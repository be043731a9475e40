"""The ``status-check`` handler: records each inquiry, and a timer asks Integrex about it.

For each ``StatusCheckRequest`` on ``TopicSet.status_check_requests``, ``handle`` only

1. records the command in its ``status_checks`` row (``requested``, due now, with the deadline
   ``IntegrexSettings.poll_deadline_seconds`` from now and the handler's lane), and
2. re-publishes the stored result when the row is already final (a re-delivered command).

It never calls Integrex, so it returns in milliseconds whatever Integrex does, and the offset
is committed at once: a slow partner never holds a partition, a rebalance or a shutdown.

The :class:`~handlers.followups.state.timers.DuePoller` started in ``start`` does the asking
(:mod:`handlers.followups.status_check.steps`): POST claim-info once, record the id, poll
with growing intervals, and publish the result on ``TopicSet.status_check_results``. What
follows from the answer (documents the payer asks for) is the ledger's rules' decision, not
this handler's. Timers live in the database: a restart, a ``kill -9`` or another replica
resumes each inquiry from its recorded state.

Integrex's ``env`` header comes from ``CLAIMFLOW_INTEGREX__ENV``: the test lane's deployment
(``CLAIMFLOW_HANDLERS__LANE=test``, ``Meta.Test`` traffic) runs with ``T``; each lane's poller
works only its own lane's rows. Logs carry command ids, claim ids, states and Integrex ids.
"""

from __future__ import annotations

import structlog

from claimflow.settings import Settings
from handlers.followups.partners.budget import RequestBudget
from handlers.followups.partners.integrex import IntegrexClient
from handlers.followups.partners.metrics import PartnerMetrics
from handlers.followups.state.outbound import decode_command, publish_model
from handlers.followups.state.partner_handler import PartnerRequestHandler
from handlers.followups.status_check.steps import StatusCheckSteps
from handlers.followups.status_check.store import FINAL_STATES, StatusCheckStore
from handlers.runtime import HandlerContext, InboundMessage, Publisher
from router.followups import StatusCheckRequest, StatusCheckResult
from router.topics import TopicSet

__all__ = ["StatusCheckHandler", "build_status_check_handler"]

_log = structlog.get_logger(__name__)


class StatusCheckHandler(PartnerRequestHandler[StatusCheckStore, IntegrexClient]):
    """Runs in ``claimflow handle status-check``; opens its database, client and poller."""

    name = "status-check"
    partner = "integrex"

    def __init__(
        self,
        *,
        settings: Settings,
        topics: TopicSet,
        publisher: Publisher,
        metrics: PartnerMetrics | None = None,
    ) -> None:
        # Fail at start-up, with the setting's name, when the credentials are not configured.
        settings.require_secret("integrex", "client_secret")
        # One attempt per call: the timer is the only layer that tries again.
        integrex = settings.integrex.model_copy(update={"retry_max_attempts": 1})
        super().__init__(
            settings=settings,
            topics=topics,
            publisher=publisher,
            metrics=metrics,
            limits=settings.integrex,
            open_client=lambda metrics: IntegrexClient(settings=integrex, metrics=metrics),
            open_store=StatusCheckStore,
        )

    def _steps(
        self, store: StatusCheckStore, client: IntegrexClient, budget: RequestBudget
    ) -> StatusCheckSteps:
        return StatusCheckSteps(
            store=store,
            client=client,
            budget=budget,
            settings=self._settings.integrex,
            publish=self._publish,
        )

    def topics(self, topic_set: TopicSet) -> list[str]:
        return [topic_set.status_check_requests]

    async def handle(self, message: InboundMessage) -> None:
        command = decode_command(message, StatusCheckRequest)
        store, _ = self._resources.ready
        row = await store.begin(
            command,
            lane=self._settings.handlers.lane,
            deadline_seconds=self._settings.integrex.poll_deadline_seconds,
        )
        log = _log.bind(command_id=command.command_id, claim_id=command.claim.claim_id)
        if row.state in FINAL_STATES and row.result is not None:
            log.info("status_check.republished", state=row.state)
            await self._publish(command, row.result)
            return
        log.info("status_check.recorded", state=row.state, attempts=row.attempts)
        self._wake_poller()

    async def _publish(self, command: StatusCheckRequest, result: StatusCheckResult) -> None:
        key = command.claim.submission_number
        await publish_model(
            self._publisher,
            self._topics.status_check_results,
            result,
            key=key,
            source_id=command.command_id,
            purpose=f"status-check-result:{result.outcome}",
            schema=result.schema_name,
            test=command.test,
        )


def build_status_check_handler(context: HandlerContext) -> StatusCheckHandler:
    return StatusCheckHandler(
        settings=context.settings,
        topics=context.topics,
        publisher=context.publisher,
        metrics=PartnerMetrics(registry=context.registry),
    )
