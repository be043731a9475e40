"""The topic contract: every Kafka topic claimflow reads or writes, by lane.

This module is public API for downstream teams. Topic names are ``<prefix><lane part><name>``:
production traffic uses ``claimflow.<name>``; ``Meta.Test: true`` traffic uses
``claimflow.test.<name>`` so production consumers never see it. Renaming a topic here is a
breaking change: add a new ``.v2`` topic instead. docs/topics.md describes each one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["HEADERS", "Lane", "TopicSet", "all_topic_names"]

Lane = Literal["production", "test"]


class HEADERS:
    """Kafka header names every claimflow message carries (values are UTF-8 bytes)."""

    MESSAGE_ID = "claimflow-message-id"
    SCHEMA = "claimflow-schema"
    CONTENT_TYPE = "content-type"
    DATA_MODEL = "redox-data-model"
    EVENT_TYPE = "redox-event-type"
    REDOX_LOG_ID = "redox-log-id"
    REDOX_ATTEMPT_ID = "redox-attempt-id"
    TEST = "redox-test"
    # Set by the handler runtime on retry and dead-letter copies.
    ERROR = "claimflow-error"
    HANDLER = "claimflow-handler"
    ATTEMPTS = "claimflow-attempts"
    ORIGINAL_TOPIC = "claimflow-original-topic"
    ORIGINAL_PARTITION = "claimflow-original-partition"
    ORIGINAL_OFFSET = "claimflow-original-offset"
    # Set by `claimflow dlq replay` on a dead letter moved back: "<dead-letter topic>:<offset>".
    REPLAYED_FROM = "claimflow-replayed-from"


@dataclass(frozen=True, slots=True)
class TopicSet:
    """The names of every topic of one lane."""

    prefix: str = "claimflow."
    lane: Lane = "production"

    def _name(self, name: str) -> str:
        lane_part = "test." if self.lane == "test" else ""
        return f"{self.prefix}{lane_part}{name}"

    # Written by the receiver: the validated webhook body, as received, keyed by Redox log id.
    @property
    def webhook_payment_batch(self) -> str:
        return self._name("redox.claim.payment-batch.v1")

    @property
    def webhook_claim_submit(self) -> str:
        return self._name("redox.claim.submit.v1")

    # Written by the router: one message per claim, keyed by the claim's SubmissionNumber.
    @property
    def claim_payments(self) -> str:
        return self._name("claim-payments.v1")

    @property
    def claim_submissions(self) -> str:
        return self._name("claim-submissions.v1")

    # The router's exactly-once de-duplication state (compacted, keyed by Redox log id).
    @property
    def router_seen_deliveries(self) -> str:
        return self._name("router.seen-deliveries.v1")

    # Router dead letters: webhook messages that cannot be split (by design: never expected).
    @property
    def router_dead_letter(self) -> str:
        return self._name("router.dead-letter.v1")

    # Written by the ledger handler.
    @property
    def reconciliations(self) -> str:
        return self._name("reconciliations.v1")

    @property
    def status_check_requests(self) -> str:
        return self._name("status-check-requests.v1")

    @property
    def attachment_requests(self) -> str:
        return self._name("attachment-requests.v1")

    # Written by the partner handlers.
    @property
    def status_check_results(self) -> str:
        return self._name("status-check-results.v1")

    @property
    def attachment_results(self) -> str:
        return self._name("attachment-results.v1")

    # Written by the billing worklist (through the ledger's outbox): the decisions people make
    # and the access records of who saw or changed which claim (an audit trail).
    @property
    def worklist_decisions(self) -> str:
        return self._name("worklist.decisions.v1")

    @property
    def worklist_access(self) -> str:
        return self._name("worklist.access.v1")

    # Per-handler retry and dead-letter topics.
    def handler_retry(self, handler: str) -> str:
        return self._name(f"handlers.{handler}.retry.v1")

    def handler_dead_letter(self, handler: str) -> str:
        return self._name(f"handlers.{handler}.dead-letter.v1")


HANDLER_NAMES = ("ledger", "status-check", "attachment")


def all_topic_names(prefix: str = "claimflow.") -> list[str]:
    """Every topic of both lanes: what ops must create (k8s/ KafkaTopic resources)."""
    names: list[str] = []
    for lane in ("production", "test"):
        topics = TopicSet(prefix=prefix, lane=lane)
        for attr in (
            "webhook_payment_batch",
            "webhook_claim_submit",
            "claim_payments",
            "claim_submissions",
            "router_seen_deliveries",
            "router_dead_letter",
            "reconciliations",
            "status_check_requests",
            "attachment_requests",
            "status_check_results",
            "attachment_results",
            "worklist_decisions",
            "worklist_access",
        ):
            names.append(getattr(topics, attr))
        for handler in HANDLER_NAMES:
            names.append(topics.handler_retry(handler))
            names.append(topics.handler_dead_letter(handler))
    return names
