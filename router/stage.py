"""The router stage: webhook topics in, one message per claim out, exactly once.

Exactly-once design (Kafka Streams' EOS-v1 "one producer per input partition"):

- aiokafka 0.14 commits consumed offsets in a transaction with ``TxnOffsetCommit`` v0, i.e.
  with the group id only, not the consumer's generation and member id (KIP-447). A single
  producer per process could therefore not be fenced by the group after a rebalance: a zombie
  replica could still commit offsets of a partition it lost. So each assigned input partition
  gets its own transactional producer, ``transactional_id = f"{prefix}-{topic}-{partition}"``.
  Whoever takes a partition over starts its producer first, which fences every older producer
  of that id and aborts (or completes) the transaction it left open.
- Only then it restores the partition's de-duplication state (``router._changelog``), and
  seeks to the committed offset fetched after the fencing, so it sees every committed result.
- Each poll's records of a partition are routed in one transaction (``router._partition``)
  with their consumed offset. The consumer reads read_committed and never commits itself.

Errors: ``RouterError`` is the root; ``TopicLayoutError`` (the changelog is missing or has
fewer partitions than a webhook topic) stops start-up. A Kafka error that is retriable aborts
the transaction and retries the same records; any other error stops the stage with
``RouterError`` so that the process restarts from the last committed transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from claimflow.kafka_clients import connection_kwargs, consumer_kwargs, producer_kwargs
from claimflow.settings import KafkaSettings, RouterSettings
from router._changelog import restore_seen
from router._metrics import RouterMetrics
from router._partition import PartitionTask
from router.routes import RouteTable
from router.topics import TopicSet

__all__ = ["RouterError", "RouterStage", "TopicLayoutError"]

log = structlog.get_logger("claimflow.router")

_POLL_MS = 500
_RETRY_BACKOFF_SECONDS = 1.0
# One batch per partition per request: a transaction of ~1,000 claim messages of ~3 KB then
# takes a few round trips instead of one per 5 messages (the 16 KiB default).
_MAX_BATCH_BYTES = 512 * 1024  # under the brokers' 1 MiB default message.max.bytes


class RouterError(RuntimeError):
    """The router cannot go on; the process should exit and be restarted."""


class TopicLayoutError(RouterError):
    """The de-duplication changelog is missing or not co-partitioned with a webhook topic."""


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka has no types
    def __init__(
        self,
        revoked: Callable[[set[TopicPartition]], Awaitable[None]],
        assigned: Callable[[set[TopicPartition]], Awaitable[None]],
    ) -> None:
        self._revoked = revoked
        self._assigned = assigned

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._assigned(set(assigned))


class RouterStage:
    """Reads every webhook topic of ``routes`` (both lanes) until :meth:`stop`."""

    def __init__(
        self,
        *,
        kafka: KafkaSettings,
        settings: RouterSettings,
        routes: RouteTable,
        metrics: RouterMetrics,
        max_records: int = 100,
    ) -> None:
        self._kafka = kafka
        self._settings = settings
        self._routes = routes
        self._metrics = metrics
        self._max_records = max_records
        self._tasks: dict[TopicPartition, PartitionTask] = {}
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._ready = False
        self._failure: BaseException | None = None
        # Created by run(), in its event loop; typed Any because aiokafka ships no types.
        self._consumer: Any = None
        self._restore_consumer: Any = None

    def ready(self) -> bool:
        """True once partitions are assigned and restored, until stopping."""
        return self._ready and not self._stopping.is_set()

    def stop(self) -> None:
        """Finish the current transactions, then leave the group and close (SIGTERM)."""
        self._stopping.set()

    async def run(self) -> None:
        """Route until :meth:`stop`; raise ``RouterError`` if the stage cannot go on."""
        self._consumer = AIOKafkaConsumer(
            **consumer_kwargs(self._kafka, role="router", group_id=self._settings.group_id)
        )
        # Group-less and read_committed: reads the changelog up to its last stable offset.
        restore_kwargs = consumer_kwargs(self._kafka, role="router-restore", group_id="")
        restore_kwargs["group_id"] = None
        self._restore_consumer = AIOKafkaConsumer(**restore_kwargs)
        try:
            await self._consumer.start()
            await self._restore_consumer.start()
            await self._check_layout()
            self._consumer.subscribe(
                topics=self._routes.webhook_topics(),
                listener=_Rebalance(self._on_revoked, self._on_assigned),
            )
            while not self._stopping.is_set() and self._failure is None:
                batch = await self._consumer.getmany(
                    timeout_ms=_POLL_MS, max_records=self._max_records
                )
                async with self._lock:
                    await self._route(batch)
                    self._report_lag()
            if self._failure is not None:
                raise RouterError(f"router stopped: {self._failure!r}") from self._failure
        finally:
            self._ready = False
            async with self._lock:
                await self._close_tasks(set(self._tasks))
            await self._consumer.stop()
            await self._restore_consumer.stop()

    async def _check_layout(self) -> None:
        admin = AIOKafkaAdminClient(**connection_kwargs(self._kafka, role="router-admin"))
        await admin.start()
        try:
            described = await admin.describe_topics(self._layout_topics())
        finally:
            await admin.close()
        partitions = {
            topic["topic"]: len(topic["partitions"])
            for topic in described
            if topic["error_code"] == 0 and topic["partitions"]
        }
        for topic in self._routes.webhook_topics():
            changelog = self._changelog(TopicPartition(topic, 0)).topic
            if topic not in partitions:
                raise TopicLayoutError(f"webhook topic {topic} does not exist")
            if partitions.get(changelog, 0) < partitions[topic]:
                raise TopicLayoutError(
                    f"{changelog} must have at least the {partitions[topic]} partitions of "
                    f"{topic} (the de-duplication changelog is co-partitioned with it)"
                )

    def _layout_topics(self) -> list[str]:
        webhook = self._routes.webhook_topics()
        changelogs = {self._changelog(TopicPartition(topic, 0)).topic for topic in webhook}
        return sorted({*webhook, *changelogs})

    async def _route(self, batch: dict[TopicPartition, list[Any]]) -> None:
        work = {tp: records for tp, records in batch.items() if tp in self._tasks and records}
        results = await asyncio.gather(
            *(self._tasks[tp].process(records) for tp, records in work.items()),
            return_exceptions=True,
        )
        for (tp, records), result in zip(work.items(), results, strict=True):
            if not isinstance(result, BaseException):
                continue
            retried = isinstance(result, KafkaError) and result.retriable
            self._metrics.transactions.labels("aborted" if retried else "failed").inc()
            if retried:
                log.warning("transaction aborted, retrying", partition=str(tp), error=repr(result))
                self._consumer.seek(tp, records[0].offset)
                await asyncio.sleep(_RETRY_BACKOFF_SECONDS)
            else:
                log.error("router transaction failed", partition=str(tp), error=repr(result))
                self._failure = result

    def _report_lag(self) -> None:
        for tp, task in self._tasks.items():
            end = self._consumer.last_stable_offset(tp)
            if end is None:
                end = self._consumer.highwater(tp)
            if end is not None:
                lag = max(0, end - task.next_offset)
                self._metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._lock:
            self._ready = False
            await self._close_tasks(revoked)
            for tp in revoked:
                with contextlib.suppress(KeyError):
                    self._metrics.consumer_lag.remove(tp.topic, str(tp.partition))

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        async with self._lock:
            try:
                await self._open_tasks(assigned - set(self._tasks))
            except Exception as exc:  # noqa: BLE001 - aiokafka would only log it; stop instead
                log.error("partition assignment failed", error=repr(exc))
                self._failure = exc
                return
            self._ready = True

    async def _open_tasks(self, partitions: set[TopicPartition]) -> None:
        producers = {tp: self._producer(tp) for tp in partitions}
        try:
            # Fence first: starting a producer aborts what its predecessor left open.
            await asyncio.gather(*(producer.start() for producer in producers.values()))
            changelogs = {tp: self._changelog(tp) for tp in partitions}
            restored = await restore_seen(self._restore_consumer, changelogs.values())
            # Fetched now, after the fencing: it includes what the predecessor committed.
            committed = {tp: await self._consumer.committed(tp) for tp in partitions}
            for tp, offset in committed.items():
                if offset is not None:
                    self._consumer.seek(tp, offset)
        except BaseException:
            for producer in producers.values():
                with contextlib.suppress(Exception):
                    await producer.stop()
            raise
        for tp, producer in producers.items():
            self._tasks[tp] = PartitionTask(
                partition=tp,
                changelog=changelogs[tp],
                producer=producer,
                seen=set(restored[changelogs[tp]].get(tp.topic, set())),
                next_offset=committed[tp] or 0,
                group_id=self._settings.group_id,
                routes=self._routes,
                metrics=self._metrics,
            )
            log.info("partition assigned", partition=str(tp), seen=len(self._tasks[tp].seen))

    def _producer(self, tp: TopicPartition) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **producer_kwargs(self._kafka, role="router"),
            transactional_id=f"{self._settings.transactional_id_prefix}-{tp.topic}-{tp.partition}",
            linger_ms=5,
            max_batch_size=_MAX_BATCH_BYTES,
        )

    def _changelog(self, tp: TopicPartition) -> TopicPartition:
        lane = self._routes.lane_of(tp.topic) or "production"
        topics = TopicSet(prefix=self._routes.topic_prefix, lane=lane)
        return TopicPartition(topics.router_seen_deliveries, tp.partition)

    async def _close_tasks(self, partitions: set[TopicPartition]) -> None:
        for tp in partitions:
            task = self._tasks.pop(tp, None)
            if task is not None:
                with contextlib.suppress(KafkaError):
                    await task.close()
