"""The receiver's Prometheus metrics, in a registry of its own (one per app, not global)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram

from claimflow.health import process_registry

__all__ = ["ReceiverMetrics", "RecentDeliveries"]

# Publish latency buckets: an acks=all write on a healthy cluster takes a few ms; the top
# buckets show a slow broker approaching publish_timeout_seconds.
_PUBLISH_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class ReceiverMetrics:
    registry: CollectorRegistry
    requests: Counter
    publish_seconds: Histogram
    duplicates: Counter

    @classmethod
    def create(cls) -> ReceiverMetrics:
        registry = process_registry()
        return cls(
            registry=registry,
            requests=Counter(
                "claimflow_receiver_requests",
                "Webhook requests by outcome (accepted, invalid, unauthorized, ...).",
                ["outcome"],
                registry=registry,
            ),
            publish_seconds=Histogram(
                "claimflow_receiver_publish_seconds",
                "Time from send to the broker's acks=all acknowledgement.",
                buckets=_PUBLISH_BUCKETS,
                registry=registry,
            ),
            duplicates=Counter(
                "claimflow_receiver_duplicate_deliveries",
                "Accepted deliveries whose Redox log id this process had accepted before "
                "(Redox retried although we answered 2xx); published again, the router "
                "de-duplicates.",
                registry=registry,
            ),
        )


@dataclass
class RecentDeliveries:
    """The log ids this process accepted lately (bounded), to count Redox's duplicates."""

    capacity: int = 10_000
    _seen: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def add(self, log_id: str) -> bool:
        """Remember ``log_id``; True when it was already there."""
        if log_id in self._seen:
            self._seen.move_to_end(log_id)
            return True
        self._seen[log_id] = None
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return False
