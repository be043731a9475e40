"""One assigned webhook partition: its transactional producer and its seen deliveries.

Each poll's records of the partition are routed in one Kafka transaction holding the claim
messages, the dead letters, the changelog records of the newly routed deliveries and the
consumed offset. The transaction commits all of it or none of it; the seen-set is updated only
after the commit, so an aborted transaction leaves no trace in memory either.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog
from aiokafka import AIOKafkaProducer, TopicPartition
from opentelemetry.trace import Link

from claimflow.tracing import (
    consumer_span,
    current_span_link,
    inject_trace_headers,
    internal_span,
    producer_span,
)
from router._changelog import SeenRecord
from router._metrics import RouterMetrics
from router._routing import DeadLetter, InboundRecord, OutboundRecord, route_record
from router.routes import RouteTable

__all__ = ["PartitionTask"]

log = structlog.get_logger("claimflow.router")


@dataclass
class _Plan:
    """What one transaction writes, and what it changes once committed."""

    outbound: list[OutboundRecord] = field(default_factory=list)
    changelog: list[SeenRecord] = field(default_factory=list)
    claim_messages: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    dead_letters: int = 0
    webhook_spans: list[Link] = field(default_factory=list)


@dataclass(eq=False)
class PartitionTask:
    """Routes the records of ``partition`` exactly once, with its own transactional producer."""

    partition: TopicPartition
    changelog: TopicPartition
    producer: AIOKafkaProducer
    seen: set[str]
    group_id: str
    routes: RouteTable
    metrics: RouterMetrics
    next_offset: int = 0
    """The first offset not yet routed: records before it (a stale fetch) are skipped."""

    def _plan(self, records: Sequence[InboundRecord]) -> _Plan:
        plan = _Plan()
        routed_now: set[str] = set()
        for record in records:
            with consumer_span(
                record.topic, record.headers, partition=record.partition, offset=record.offset
            ):
                plan.webhook_spans.extend(current_span_link())
                self._plan_one(record, plan, routed_now)
        return plan

    def _plan_one(self, record: InboundRecord, plan: _Plan, routed_now: set[str]) -> None:
        outcome = route_record(record, self.routes)
        if isinstance(outcome, DeadLetter):
            _trace_outbound([outcome.message])
            plan.outbound.append(outcome.message)
            plan.dead_letters += 1
            log.error(
                "webhook dead-lettered",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=outcome.reason,
            )
        elif outcome.log_id in self.seen or outcome.log_id in routed_now:
            plan.duplicates += 1
            log.info("redox retry dropped", redox_log_id=outcome.log_id, topic=record.topic)
        else:
            _trace_outbound(outcome.messages)
            routed_now.add(outcome.log_id)
            plan.outbound.extend(outcome.messages)
            for message in outcome.messages:
                plan.claim_messages[message.topic] = plan.claim_messages.get(message.topic, 0) + 1
            plan.changelog.append(
                SeenRecord(
                    outcome.log_id,
                    record.topic,
                    record.partition,
                    record.offset,
                    len(outcome.messages),
                )
            )

    async def process(self, records: Sequence[InboundRecord]) -> None:
        """Route ``records`` (consecutive, of this partition) in one transaction."""
        records = [record for record in records if record.offset >= self.next_offset]
        if not records:
            return
        plan = self._plan(records)
        started = time.monotonic()
        with internal_span(f"{self.partition.topic} transaction", links=plan.webhook_spans):
            await self._write(plan, records)
        self.metrics.transaction_seconds.observe(time.monotonic() - started)
        self.metrics.transactions.labels("committed").inc()
        self.next_offset = records[-1].offset + 1
        self.seen.update(seen.log_id for seen in plan.changelog)
        topic = self.partition.topic
        self.metrics.deliveries_in.labels(topic).inc(len(records))
        self.metrics.duplicates_dropped.labels(topic).inc(plan.duplicates)
        self.metrics.dead_lettered.labels(topic).inc(plan.dead_letters)
        for claim_topic, count in plan.claim_messages.items():
            self.metrics.claim_messages_out.labels(claim_topic).inc(count)
        for seen in plan.changelog:
            log.info(
                "delivery routed",
                redox_log_id=seen.log_id,
                topic=seen.topic,
                partition=seen.partition,
                offset=seen.offset,
                claim_messages=seen.claim_messages,
            )

    async def _write(self, plan: _Plan, records: Sequence[InboundRecord]) -> None:
        """One transaction: claim messages, dead letters, changelog and the consumed offset."""
        async with self.producer.transaction():
            for message in plan.outbound:
                await self.producer.send(
                    message.topic, message.value, key=message.key, headers=message.headers
                )
            for seen in plan.changelog:
                await self.producer.send(
                    self.changelog.topic,
                    seen.value(),
                    key=seen.key(),
                    partition=self.changelog.partition,
                )
            await self.producer.send_offsets_to_transaction(
                {self.partition: records[-1].offset + 1}, self.group_id
            )

    async def close(self) -> None:
        await self.producer.stop()


def _trace_outbound(messages: Sequence[OutboundRecord]) -> None:
    """Each message of a webhook gets a PRODUCER ``create`` span, child of the webhook's CONSUMER
    span; its context is the message's ``traceparent`` (docs/topics.md, "Trace context")."""
    for message in messages:
        with producer_span(message.topic, message.headers, operation="create"):
            message.headers[:] = inject_trace_headers(message.headers)
