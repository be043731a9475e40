"""Prometheus metrics of partner calls: counts and latency by partner, operation and outcome.

Labels are closed sets (partner name, operation name, HTTP status or error kind); no request
ids, tokens or payload values ever become labels. The composition root passes the registry it
exports; without one, a private registry keeps tests and second clients from colliding.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["PartnerMetrics"]


class PartnerMetrics:
    """The partner metrics of one process, shared by every partner client.

    The ``partner`` label tells the clients apart; a second instance on the same registry would
    register the same names twice.
    """

    def __init__(self, *, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "claimflow_partner_requests",
            "HTTP requests sent to partner APIs, by outcome (status code or error kind).",
            ["partner", "operation", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "claimflow_partner_request_seconds",
            "Time from sending a partner request to its answer (or failure).",
            ["partner", "operation"],
            registry=self.registry,
        )
        self.token_fetches = Counter(
            "claimflow_partner_token_fetches",
            "OAuth2 access tokens fetched from partner token endpoints.",
            ["partner"],
            registry=self.registry,
        )
        self.circuit_rejections = Counter(
            "claimflow_partner_circuit_rejections",
            "Calls refused without a request because the partner's circuit was open.",
            ["partner"],
            registry=self.registry,
        )

        self.budget_remaining = Gauge(
            "claimflow_partner_budget_remaining",
            "Requests left in the partner's budget for the window (day: the UTC day, all "
            "replicas).",
            ["partner", "window"],
            registry=self.registry,
        )
        self.budget_limit = Gauge(
            "claimflow_partner_budget_limit",
            "The partner plan's request limit for the window.",
            ["partner", "window"],
            registry=self.registry,
        )
        self.budget_waits = Counter(
            "claimflow_partner_budget_waits",
            "Partner calls deferred (their timer pushed) because the budget was used up.",
            ["partner", "window"],
            registry=self.registry,
        )
        self.followups = Gauge(
            "claimflow_followup_requests",
            "Follow-up requests of this lane (status checks, attachment submissions) by handler "
            "and state, as their table holds them.",
            ["handler", "state"],
            registry=self.registry,
        )
        self._followup_states: dict[str, set[str]] = {}

    def followup_states(self, handler: str, counts: Mapping[str, int]) -> None:
        """Set the follow-ups by state of ``handler``; a state no longer seen goes to 0."""
        seen = self._followup_states.setdefault(handler, set())
        for state in seen - counts.keys():
            self.followups.labels(handler, state).set(0)
        for state, count in counts.items():
            self.followups.labels(handler, state).set(count)
        seen.update(counts)

    def observe(self, *, partner: str, operation: str, outcome: str, seconds: float) -> None:
        self.requests.labels(partner=partner, operation=operation, outcome=outcome).inc()
        self.latency.labels(partner=partner, operation=operation).observe(seconds)
