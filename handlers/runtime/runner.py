"""The consumer side of a handler process: fetch, fan out per partition, commit, rebalance.

One ``AIOKafkaConsumer`` in the group ``claimflow-handler-<name>`` reads the handler's topics
and its retry topic (``read_committed``, no auto-commit). Each assigned partition gets a
``PartitionWorker`` that handles its records in order. After every fetch the runner commits,
for each partition, the position its ``OffsetTracker`` allows: never past a record whose
effects are not yet durable. A partition whose worker falls behind is paused, not buffered
without bound.

Stopping (``request_stop``, wired to SIGTERM/SIGINT by the process) stops fetching, lets each
record in flight finish, commits, and leaves the group. A rebalance does the same for the
revoked partitions before the group moves them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import structlog
from aiokafka import TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from handlers.runtime.delivery import Delivery
from handlers.runtime.handler import BatchHandler, Handler
from handlers.runtime.metrics import RunnerMetrics
from handlers.runtime.partition import PartitionWorker
from handlers.runtime.publisher import KafkaPublisher
from handlers.runtime.retry import RetryPolicy
from router.topics import Lane, TopicSet

__all__ = ["HandlerRunner", "consumer_group"]

_log = structlog.get_logger()

_FETCH_TIMEOUT_MS = 200
_FETCH_MAX_RECORDS = 500
# Readiness needs a fetch answered by the broker within this time: twice aiokafka's default
# session timeout (10 s, which ``consumer_kwargs`` leaves as is), so a lost broker turns
# /readyz to 503 within about half a minute and a slow fetch or two does not.
_FETCH_STALE_AFTER_MS = 20_000


def consumer_group(handler: str, lane: Lane = "production") -> str:
    """The handler's consumer group; the test lane has its own, so the lanes never share."""
    suffix = "-test" if lane == "test" else ""
    return f"claimflow-handler-{handler}{suffix}"


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc] # aiokafka is untyped
    def __init__(self, runner: HandlerRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._runner._release(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._runner._joined = True
        _log.info("partitions assigned", handler=self._runner.name, partitions=len(assigned))


class HandlerRunner:
    """Runs one handler against Kafka until asked to stop."""

    def __init__(
        self,
        *,
        handler: Handler,
        topic_set: TopicSet,
        consumer: Any,
        publisher: KafkaPublisher,
        policy: RetryPolicy,
        metrics: RunnerMetrics,
        max_queued: int = 200,
    ) -> None:
        self.name = handler.name
        self._consumer = consumer
        self._metrics = metrics
        self._max_queued = max_queued
        self._retry_topic = topic_set.handler_retry(handler.name)
        # A BatchHandler gets each source partition's queued records at once; the retry
        # topic's records keep their one-at-a-time path (each waits for its own due time).
        self._batching = isinstance(handler, BatchHandler)
        self._topics = [*handler.topics(topic_set), self._retry_topic]
        self._delivery = Delivery(
            handler=handler,
            publisher=publisher,
            policy=policy,
            metrics=metrics,
            retry_topic=self._retry_topic,
            dead_letter_topic=topic_set.handler_dead_letter(handler.name),
        )
        self._workers: dict[TopicPartition, PartitionWorker] = {}
        self._stopping = asyncio.Event()
        self._joined = False
        # Positions are read and committed under one lock, so that a commit from the fetch
        # loop and one from a rebalance never land out of order (moving a commit backwards).
        self._commit_lock = asyncio.Lock()

    def ready(self) -> bool:
        """Joined its consumer group, not stopping, and the broker answered a fetch lately."""
        return self._joined and not self._stopping.is_set() and self._fetching()

    def _fetching(self) -> bool:
        """Whether a partition being fetched had a fetch answered within the stale bound.

        Paused partitions are not fetched, so they do not count; with nothing to fetch (no
        partition assigned, or all paused for a backlog) there is nothing to judge by.
        """
        fetched = set(self._consumer.assignment()) - set(self._consumer.paused())
        if not fetched:
            return True
        answered = [self._consumer.last_poll_timestamp(tp) for tp in fetched]
        latest = max((at for at in answered if at is not None), default=None)
        return latest is not None and time.time() * 1000 - latest < _FETCH_STALE_AFTER_MS

    def request_stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Start the consumer (which this runner owns), consume until stopped, then close it."""
        self._consumer.subscribe(self._topics, listener=_Listener(self))
        try:
            await self._consumer.start()
            while not self._stopping.is_set():
                await self._fetch_once()
        finally:
            try:
                await self._release(list(self._workers))
            finally:
                await self._consumer.stop()

    async def _fetch_once(self) -> None:
        batch = await self._consumer.getmany(
            timeout_ms=_FETCH_TIMEOUT_MS, max_records=_FETCH_MAX_RECORDS
        )
        for tp, records in batch.items():
            worker = self._workers.get(tp)
            if worker is None:
                batch = self._batching and tp.topic != self._retry_topic
                worker = PartitionWorker(
                    tp.topic,
                    tp.partition,
                    self._delivery.process,
                    process_batch=self._delivery.process_batch if batch else None,
                )
                self._workers[tp] = worker
            worker.enqueue(records)
            if worker.queued >= self._max_queued:
                self._consumer.pause(tp)
        for tp in list(self._consumer.paused()):
            paused = self._workers.get(tp)
            if paused is None or paused.queued <= self._max_queued // 2:
                self._consumer.resume(tp)
        for worker in self._workers.values():
            if worker.failed is not None:
                raise worker.failed
        await self._commit(dict(self._workers))
        self._report_lag()

    async def _release(self, partitions: Iterable[TopicPartition]) -> None:
        """Finish what is in flight on ``partitions``, commit it, and forget them."""
        released = {tp: self._workers.pop(tp) for tp in partitions if tp in self._workers}
        for worker in released.values():
            worker.stop()
        results = await asyncio.gather(
            *(worker.wait() for worker in released.values()), return_exceptions=True
        )
        await self._commit(released)
        for tp in released:
            self._metrics.forget_partition(tp.topic, tp.partition)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _commit(self, workers: dict[TopicPartition, PartitionWorker]) -> None:
        async with self._commit_lock:
            await self._commit_locked(workers)

    async def _commit_locked(self, workers: dict[TopicPartition, PartitionWorker]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for tp, worker in workers.items():
            position = worker.tracker.to_commit()
            if position is not None:
                offsets[tp] = position
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:
            # The group moved on (a rebalance): the new owner re-handles from the last commit,
            # and handlers are idempotent.
            _log.warning("offset commit failed", handler=self.name, error=type(exc).__name__)
            return
        for tp, position in offsets.items():
            workers[tp].tracker.committed(position)

    def _report_lag(self) -> None:
        for tp, worker in self._workers.items():
            highwater = self._consumer.highwater(tp)
            position = worker.tracker.position
            if highwater is not None and position is not None:
                self._metrics.lag(tp.topic, tp.partition, highwater - position)
