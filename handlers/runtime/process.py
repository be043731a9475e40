"""The composition root of a handler process: clients, handler, runner and health server.

``running_handler`` builds everything from the settings and a handler factory, and tears it
down in reverse order; ``serve_handler`` adds the signal handling of ``claimflow handle``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer

from claimflow.health import HealthServer, process_registry
from claimflow.kafka_clients import IdempotentProducer, consumer_kwargs, producer_kwargs
from claimflow.settings import Settings
from claimflow.tracing import configure_tracing
from handlers.runtime.handler import HandlerContext, HandlerFactory, Lifecycle
from handlers.runtime.metrics import RunnerMetrics
from handlers.runtime.publisher import KafkaPublisher
from handlers.runtime.retry import RetryPolicy
from handlers.runtime.runner import HandlerRunner, consumer_group
from router.topics import TopicSet

__all__ = ["RunningHandler", "running_handler", "serve_handler", "settle_heap"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningHandler:
    runner: HandlerRunner
    health: HealthServer
    metrics: RunnerMetrics
    task: asyncio.Task[None]

    def request_stop(self) -> None:
        self.runner.request_stop()

    async def wait(self) -> None:
        """Wait until the runner ends (stopped, or failed: its error is raised here)."""
        await asyncio.shield(self.task)


async def _stop_runner(runner: HandlerRunner, task: asyncio.Task[None]) -> None:
    runner.request_stop()
    await task


@contextlib.asynccontextmanager
async def running_handler(
    settings: Settings, factory: HandlerFactory
) -> AsyncIterator[RunningHandler]:
    """Start a handler with its runner and health server; stop and drain it on exit."""
    topic_set = TopicSet(prefix=settings.kafka.topic_prefix, lane=settings.handlers.lane)
    async with contextlib.AsyncExitStack() as stack:
        producer = IdempotentProducer(**producer_kwargs(settings.kafka, role="handler"))
        stack.push_async_callback(producer.stop)  # also closes a producer that failed to start
        await producer.start()
        publisher = KafkaPublisher(producer)
        registry = process_registry()
        context = HandlerContext(
            settings=settings, topics=topic_set, publisher=publisher, registry=registry
        )
        handler = factory(context)
        # Before its clients and engines are made: their calls and queries get spans.
        configure_tracing(settings.tracing, role=handler.name, http_clients=True)
        if isinstance(handler, Lifecycle):
            await handler.start()
            stack.push_async_callback(handler.stop)
        group = consumer_group(handler.name, settings.handlers.lane)
        consumer = AIOKafkaConsumer(
            **consumer_kwargs(settings.kafka, role=f"handler-{handler.name}", group_id=group)
        )
        metrics = RunnerMetrics(handler.name, registry=registry)
        runner = HandlerRunner(
            handler=handler,
            topic_set=topic_set,
            consumer=consumer,
            publisher=publisher,
            policy=RetryPolicy.from_settings(settings.handlers),
            metrics=metrics,
        )
        health = HealthServer(
            host=settings.handlers.health_host,
            port=settings.handlers.health_port,
            ready=runner.ready,
            registry=metrics.registry,
        )
        await health.start()
        stack.push_async_callback(health.stop)
        task = asyncio.create_task(runner.run(), name=f"handler-{handler.name}")
        stack.push_async_callback(_stop_runner, runner, task)
        yield RunningHandler(runner=runner, health=health, metrics=metrics, task=task)


YOUNG_COLLECTION = 20_000
"""Allocations between two collections of the youngest generation, once a handler has started."""


def settle_heap() -> None:
    """Move what the process built to start (modules, clients, compiled SQL, validators) out
    of the garbage collector's generations.

    A handler's batch makes many short-lived objects; each full collection they trigger would
    otherwise walk the whole startup heap again (about a sixth of the ledger's CPU per
    payment). Objects frozen here live as long as the process anyway; later garbage is
    collected as before, the youngest generation every ``YOUNG_COLLECTION`` allocations
    instead of 700 (a batch of 500 payments allocates millions: another 5-9% of the ledger's
    CPU). Called once a handler process has started (``serve_handler``), never in a process
    that starts handlers repeatedly (tests).
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION, older, oldest)


async def serve_handler(settings: Settings, factory: HandlerFactory) -> None:
    """Run a handler until SIGTERM or SIGINT, then drain, commit and exit."""
    loop = asyncio.get_running_loop()
    async with running_handler(settings, factory) as running:
        settle_heap()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, running.request_stop)
        try:
            await running.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
