"""Fixtures of the status-check handler tests: a fresh Integrex sandbox, topics, a database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from followup_support import (
    CLIENT_ID,
    INTEGREX_SECRET,
    Kafka,
    Sandbox,
    serve,
    unique_topics,
)

from claimflow.devstack.kafka import KafkaBroker
from router.topics import TopicSet
from sandboxes import integrex as integrex_app


@pytest.fixture
def integrex_sandbox() -> Iterator[Sandbox]:
    app = integrex_app.create_app(client_id=CLIENT_ID, client_secret=INTEGREX_SECRET)
    with serve(app) as url:
        yield Sandbox(url=url, app=app)


@pytest.fixture
def kafka(kafka_broker: KafkaBroker) -> Kafka:
    return Kafka(kafka_broker.bootstrap_servers)


@pytest.fixture
async def topics(kafka: Kafka) -> TopicSet:
    topic_set = unique_topics()
    await kafka.create_topics(topic_set, ("status-check",))
    return topic_set


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'followups.db'}"
