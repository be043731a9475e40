"""The Prometheus metrics of one handler runner, in a registry of its own.

Labels carry handler names, topic names, partitions and fixed outcome words: never a value
from a message.
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["RunnerMetrics"]


class RunnerMetrics:
    """Counters of what happened to messages, and the consumer lag, for one handler."""

    def __init__(self, handler: str, registry: CollectorRegistry | None = None) -> None:
        self.handler = handler
        self.registry = registry if registry is not None else CollectorRegistry()
        self._processed = Counter(
            "claimflow_handler_processed",
            "Messages whose handling finished, by outcome (ok, parked, dead_lettered).",
            ["handler", "outcome"],
            registry=self.registry,
        )
        self._retried = Counter(
            "claimflow_handler_retried",
            "Failed attempts followed by another attempt, in process or via the retry topic.",
            ["handler", "via"],
            registry=self.registry,
        )
        self._dead_lettered = Counter(
            "claimflow_handler_dead_lettered",
            "Messages sent to the dead-letter topic, by reason (permanent, exhausted).",
            ["handler", "reason"],
            registry=self.registry,
        )
        self._lag = Gauge(
            "claimflow_handler_consumer_lag",
            "Records in a partition after the committed position.",
            ["handler", "topic", "partition"],
            registry=self.registry,
        )

    def processed(self, outcome: str) -> None:
        self._processed.labels(self.handler, outcome).inc()

    def retried(self, via: str) -> None:
        self._retried.labels(self.handler, via).inc()

    def dead_lettered(self, reason: str) -> None:
        self._dead_lettered.labels(self.handler, reason).inc()

    def lag(self, topic: str, partition: int, records: int) -> None:
        self._lag.labels(self.handler, topic, str(partition)).set(max(records, 0))

    def forget_partition(self, topic: str, partition: int) -> None:
        """Drop the lag of a partition this process no longer owns."""
        with contextlib.suppress(KeyError):
            self._lag.remove(self.handler, topic, str(partition))
