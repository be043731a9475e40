"""The route table: which webhook topic a Redox (DataModel, EventType) goes to, and its model.

Built-in routes send Claim.PaymentBatch to ``webhook_payment_batch`` and Claim.Submit,
Claim.Submission and Claim.SubmissionBatch to ``webhook_claim_submit``; ``Meta.Test: true``
picks the test lane of the same topic. ``RouterSettings.route_table`` may name a YAML file that
replaces the built-in routes::

    routes:
      - data_model: Claim
        event_type: PaymentBatch
        topic: webhook_payment_batch      # a webhook topic of router.topics.TopicSet

The receiver refuses (422) any webhook whose DataModel/EventType has no route, so what the
table names is exactly what claimflow accepts. The router reads every webhook topic the table
names and writes each one's claims to its claim topic (``CLAIM_TOPICS``), in the same lane.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from claimflow.settings import ConfigurationError
from router.redox import ClaimSubmission, PaymentBatch
from router.topics import Lane, TopicSet

# The hint of RouteTable.validate_json: names as the route table spells them.
_DATA_MODEL = re.compile(rb'"DataModel"\s*:\s*"([A-Za-z.]{1,64})"')
_EVENT_TYPE = re.compile(rb'"EventType"\s*:\s*"([A-Za-z.]{1,64})"')

__all__ = ["CLAIM_TOPICS", "WEBHOOK_TOPICS", "RouteTable", "RouteTableError"]

# The webhook topics a route may name, with the model that validates their bodies.
WEBHOOK_TOPICS: dict[str, type[BaseModel]] = {
    "webhook_payment_batch": PaymentBatch,
    "webhook_claim_submit": ClaimSubmission,
}

# Where the router writes the per-claim messages split from each webhook topic (same lane).
CLAIM_TOPICS: dict[str, str] = {
    "webhook_payment_batch": "claim_payments",
    "webhook_claim_submit": "claim_submissions",
}
_ENTRY_KEYS = frozenset({"data_model", "event_type", "topic"})

_DEFAULT_ROUTES: dict[tuple[str, str], str] = {
    ("Claim", "PaymentBatch"): "webhook_payment_batch",
    ("Claim", "Submit"): "webhook_claim_submit",
    ("Claim", "Submission"): "webhook_claim_submit",
    ("Claim", "SubmissionBatch"): "webhook_claim_submit",
}


class RouteTableError(ConfigurationError):
    """The route table file is not a valid route table."""


@dataclass(frozen=True, slots=True)
class RouteTable:
    """(DataModel, EventType) → webhook topic attribute of ``TopicSet``, for both lanes."""

    topic_prefix: str
    routes: dict[tuple[str, str], str]

    @classmethod
    def default(cls, topic_prefix: str) -> RouteTable:
        return cls(topic_prefix=topic_prefix, routes=dict(_DEFAULT_ROUTES))

    @classmethod
    def load(cls, path: Path | None, topic_prefix: str) -> RouteTable:
        """The table in the YAML file at ``path``, or the built-in one when ``path`` is None."""
        if path is None:
            return cls.default(topic_prefix)
        try:
            document: Any = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise RouteTableError(f"{path}: cannot read the route table: {exc}") from exc
        entries = document.get("routes") if isinstance(document, dict) else None
        if not isinstance(entries, list) or not entries:
            raise RouteTableError(f"{path}: expected a non-empty 'routes' list")
        routes: dict[tuple[str, str], str] = {}
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise RouteTableError(f"{path}: routes[{index}] is not a mapping")
            data_model, event_type, topic = (
                entry.get("data_model"),
                entry.get("event_type"),
                entry.get("topic"),
            )
            if not (isinstance(data_model, str) and isinstance(event_type, str)):
                raise RouteTableError(f"{path}: routes[{index}] needs data_model and event_type")
            where = f"{path}: routes[{index}] ({data_model}.{event_type})"
            unknown = sorted(str(key) for key in entry if key not in _ENTRY_KEYS)
            if unknown:
                raise RouteTableError(f"{where}: unknown keys {unknown}")
            if topic not in WEBHOOK_TOPICS:
                raise RouteTableError(f"{where}: topic must be one of {sorted(WEBHOOK_TOPICS)}")
            if (data_model, event_type) in routes:
                raise RouteTableError(f"{where}: {data_model}.{event_type} is routed twice")
            routes[(data_model, event_type)] = topic
        return cls(topic_prefix=topic_prefix, routes=routes)

    def webhook_topic(self, data_model: str, event_type: str, test: bool) -> str | None:
        """The topic this webhook goes to, or None when no route knows it."""
        attribute = self.routes.get((data_model, event_type))
        if attribute is None:
            return None
        topics = TopicSet(prefix=self.topic_prefix, lane="test" if test else "production")
        name: str = getattr(topics, attribute)
        return name

    def body_model(self, data_model: str, event_type: str) -> type[BaseModel] | None:
        """The model that validates the whole body: PaymentBatch or ClaimSubmission."""
        attribute = self.routes.get((data_model, event_type))
        return None if attribute is None else WEBHOOK_TOPICS[attribute]

    def validate_json(self, body: bytes) -> PaymentBatch | ClaimSubmission | None:
        """The body validated in one pass from its bytes, when it is a routable webhook.

        The model is picked by a hint read from the raw bytes (the first ``"DataModel"`` and
        ``"EventType"`` strings) and the pick is confirmed from the validated Meta. None when
        there is no hint, the body fails validation, or the validated Meta routes to another
        model: callers then take their full path, which says why.
        """
        data_model, event_type = _DATA_MODEL.search(body), _EVENT_TYPE.search(body)
        if data_model is None or event_type is None:
            return None
        model = self.body_model(data_model[1].decode(), event_type[1].decode())
        if model is None:
            return None
        try:
            validated = model.model_validate_json(body)
        except ValidationError:
            return None
        assert isinstance(validated, PaymentBatch | ClaimSubmission)  # the table's only models
        meta = validated.meta
        return validated if self.body_model(meta.data_model, meta.event_type) is model else None

    def known_events(self) -> list[str]:
        """``DataModel.EventType`` of every route, sorted: what error messages may list."""
        return sorted(f"{data_model}.{event_type}" for data_model, event_type in self.routes)

    def webhook_topics(self) -> list[str]:
        """Every topic the table can pick, both lanes: what readiness checks."""
        names = {
            self.webhook_topic(data_model, event_type, test)
            for data_model, event_type in self.routes
            for test in (False, True)
        }
        return sorted(name for name in names if name is not None)

    def claim_topic(self, webhook_topic: str) -> str | None:
        """The per-claim topic the router writes for this webhook topic (same lane), or None."""
        for lane in ("production", "test"):
            topics = TopicSet(prefix=self.topic_prefix, lane=lane)
            for attribute in set(self.routes.values()):
                if getattr(topics, attribute) == webhook_topic:
                    name: str = getattr(topics, CLAIM_TOPICS[attribute])
                    return name
        return None

    def lane_of(self, webhook_topic: str) -> Lane | None:
        """Which lane a webhook topic of this table belongs to, or None if it is not one."""
        for lane in ("production", "test"):
            topics = TopicSet(prefix=self.topic_prefix, lane=lane)
            if any(getattr(topics, attr) == webhook_topic for attr in set(self.routes.values())):
                return lane
        return None
