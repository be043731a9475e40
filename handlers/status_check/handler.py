"""The ``status-check`` handler: asks Integrex about a claim once per command, and reports.

For each ``StatusCheckRequest`` on ``TopicSet.status_check_requests``:

1. its ``status_checks`` row is created (``requested``) or read;
2. a row with a stored result (``answered``, ``failed``, ``timed_out``) is not asked again:
   the stored result is re-published (a re-delivered command, or one re-published by the ledger);
3. ``requested``: POST claim-info, and the Integrex id is committed (``submitted``) before the
   first poll; a restart then resumes polling by that id instead of asking again;
4. ``submitted``: poll until the result is ready or ``IntegrexSettings.poll_deadline_seconds``;
5. the result is committed, published on ``TopicSet.status_check_results``, and -- when the
   payer asks for information -- an ``AttachmentRequest`` is published on
   ``TopicSet.attachment_requests`` (see :mod:`handlers.status_check.inquiry`).

At the poll deadline the command ends ``timed_out`` (published with the Integrex id); the
follow-up rules may send a new command later, which asks again (Integrex keeps results only for
a while). A partner that is down, slow, rate limiting or refusing our token raises
``TransientError`` (the runtime retries, parks, then dead-letters); a refused inquiry (400) or a
claim that lacks required fields ends ``failed`` and is published, not retried. A crash between
the POST and the commit of its id asks Integrex once more on restart: a status inquiry changes
nothing at the payer. Logs carry command ids, claim ids, states and Integrex ids; never PHI.

Integrex's ``env`` header comes from ``CLAIMFLOW_INTEGREX__ENV``: the test lane's deployment
(``CLAIMFLOW_HANDLERS__LANE=test``, ``Meta.Test`` traffic) runs with ``T``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from claimflow.settings import Settings
from handlers.followup_state.outbound import decode_command, publish_model
from handlers.followup_state.resources import PartnerResources
from handlers.partners.errors import PartnerError
from handlers.partners.integrex import (
    IntegrexClient,
    IntegrexRequestRejectedError,
    IntegrexResultNotFoundError,
    IntegrexResultPendingError,
)
from handlers.partners.metrics import PartnerMetrics
from handlers.runtime import HandlerContext, InboundMessage, Publisher, TransientError
from handlers.status_check.inquiry import (
    IncompleteClaimError,
    attachment_request_for,
    inquiry_for,
    result_from,
)
from handlers.status_check.store import FINAL_STATES, StatusCheckStore
from router.followups import StatusCheckRequest, StatusCheckResult
from router.topics import TopicSet

__all__ = ["StatusCheckHandler", "build_status_check_handler"]

_log = structlog.get_logger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class StatusCheckHandler:
    """Runs in ``claimflow handle status-check``; opens its database and client in ``start``."""

    name = "status-check"

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
        self._settings = settings
        self._topics = topics
        self._publisher = publisher
        self._resources = PartnerResources(
            database=settings.database,
            open_client=lambda: IntegrexClient(settings=settings.integrex, metrics=metrics),
            open_store=StatusCheckStore,
        )

    async def start(self) -> None:
        await self._resources.open()

    async def stop(self) -> None:
        await self._resources.close()

    @property
    def _ready(self) -> tuple[StatusCheckStore, IntegrexClient]:
        return self._resources.ready

    def topics(self, topic_set: TopicSet) -> list[str]:
        return [topic_set.status_check_requests]

    async def handle(self, message: InboundMessage) -> None:
        command = decode_command(message, StatusCheckRequest)
        log = _log.bind(command_id=command.command_id, claim_id=command.claim.claim_id)
        store, _ = self._ready
        row = await store.begin(command)
        if row.state in FINAL_STATES and row.result is not None:
            log.info("status_check.republished", state=row.state)
            await self._publish(command, row.result)
            return
        result = await self._ask(command, row.integrex_request_id, log)
        await store.finish(command.command_id, result)
        log.info(
            "status_check.finished",
            outcome=result.outcome,
            category_code=result.category_code,
            integrex_request_id=result.integrex_request_id,
            attempts=row.attempts,
        )
        await self._publish(command, result)

    async def _ask(
        self,
        command: StatusCheckRequest,
        request_id: str | None,
        log: structlog.typing.FilteringBoundLogger,
    ) -> StatusCheckResult:
        store, client = self._ready
        try:
            if request_id is None:
                inquiry = inquiry_for(command)
                request_id = await client.submit_claim_status(inquiry)
                await store.submitted(command.command_id, request_id)
                log.info("status_check.submitted", integrex_request_id=request_id)
            else:
                log.info("status_check.resumed", integrex_request_id=request_id)
            entries = await client.wait_for_claim_info(request_id)
        except IncompleteClaimError as exc:
            return self._failed(command, None, str(exc))
        except IntegrexResultPendingError:
            return StatusCheckResult(
                command_id=command.command_id,
                claim_id=command.claim.claim_id,
                submission_number=command.claim.submission_number,
                outcome="timed_out",
                integrex_request_id=request_id,
                detail=f"no answer within {self._settings.integrex.poll_deadline_seconds:g} s",
                answered_at=_now(),
            )
        except IntegrexResultNotFoundError as exc:
            # The id expired or is unknown: forget it so the next attempt asks again.
            await store.forget_request(command.command_id)
            raise TransientError("Integrex no longer knows the inquiry; asking again") from exc
        except IntegrexRequestRejectedError as exc:
            return self._failed(
                command, request_id, f"Integrex refused the inquiry ({exc.status_code})"
            )
        except PartnerError as exc:
            # Down, slow, 429, 5xx, credentials or token refused, malformed answers: retry later.
            raise TransientError(f"Integrex: {type(exc).__name__} ({exc.status_code})") from exc
        return result_from(command, request_id, entries, at=_now())

    def _failed(
        self, command: StatusCheckRequest, request_id: str | None, detail: str
    ) -> StatusCheckResult:
        return StatusCheckResult(
            command_id=command.command_id,
            claim_id=command.claim.claim_id,
            submission_number=command.claim.submission_number,
            outcome="failed",
            integrex_request_id=request_id,
            detail=detail,
            answered_at=_now(),
        )

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
        follow_up = attachment_request_for(command, result)
        if follow_up is not None:
            await publish_model(
                self._publisher,
                self._topics.attachment_requests,
                follow_up,
                key=key,
                source_id=follow_up.command_id,
                purpose="attachment-request",
                schema=follow_up.schema_name,
                test=command.test,
            )


def build_status_check_handler(context: HandlerContext) -> StatusCheckHandler:
    return StatusCheckHandler(
        settings=context.settings,
        topics=context.topics,
        publisher=context.publisher,
        metrics=PartnerMetrics(registry=context.registry),
    )
