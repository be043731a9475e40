"""The router's Prometheus metrics, registered on the process's own registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["RouterMetrics"]


@dataclass(frozen=True, slots=True)
class RouterMetrics:
    deliveries_in: Counter
    claim_messages_out: Counter
    duplicates_dropped: Counter
    dead_lettered: Counter
    transaction_seconds: Histogram
    transactions: Counter
    consumer_lag: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> RouterMetrics:
        return cls(
            deliveries_in=Counter(
                "claimflow_router_deliveries",
                "Webhook records read from the webhook topics, by topic.",
                ["topic"],
                registry=registry,
            ),
            claim_messages_out=Counter(
                "claimflow_router_claim_messages",
                "Per-claim messages committed to a claim topic, by topic.",
                ["topic"],
                registry=registry,
            ),
            duplicates_dropped=Counter(
                "claimflow_router_duplicates_dropped",
                "Redox retries of an already routed delivery (same log id), not published again.",
                ["topic"],
                registry=registry,
            ),
            dead_lettered=Counter(
                "claimflow_router_dead_lettered",
                "Webhook records that could not be split, sent to the router dead-letter topic.",
                ["topic"],
                registry=registry,
            ),
            transaction_seconds=Histogram(
                "claimflow_router_transaction_seconds",
                "Time from begin to commit of one router transaction.",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
                registry=registry,
            ),
            transactions=Counter(
                "claimflow_router_transactions",
                "Router transactions by outcome: committed, aborted (retried) or failed (the "
                "stage stops).",
                ["outcome"],
                registry=registry,
            ),
            consumer_lag=Gauge(
                "claimflow_router_consumer_lag",
                "Webhook records not yet routed, per assigned partition (last stable offset "
                "minus the next offset to route).",
                ["topic", "partition"],
                registry=registry,
            ),
        )
