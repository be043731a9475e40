"""Fixtures of the attachment handler tests: a fresh Availity sandbox, topics, documents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from followup_support import (
    AVAILITY_SECRET,
    CLIENT_ID,
    Kafka,
    Sandbox,
    ViolationsOnce,
    serve,
    unique_topics,
)

from claimflow.devstack.kafka import KafkaBroker
from router.topics import TopicSet
from sandboxes import availity as availity_app


@pytest.fixture
def violations() -> ViolationsOnce:
    """Arm to have the sandbox answer the next POSTs with parameterViolations.

    Availity's reference shows one status value, ``SUBMITTED`` (not final); these tests give
    the sandbox a final accepting one after it, as a payer's onboarding would list.
    """
    return ViolationsOnce(
        availity_app.create_app(
            client_id=CLIENT_ID,
            client_secret=AVAILITY_SECRET,
            status_sequence=["SUBMITTED", "ACCEPTED"],
        )
    )


@pytest.fixture
def availity_sandbox(violations: ViolationsOnce) -> Iterator[Sandbox]:
    with serve(violations) as url:
        yield Sandbox(url=url, app=violations.app)  # type: ignore[arg-type]


@pytest.fixture
def kafka(kafka_broker: KafkaBroker) -> Kafka:
    return Kafka(kafka_broker.bootstrap_servers)


@pytest.fixture
async def topics(kafka: Kafka) -> TopicSet:
    topic_set = unique_topics()
    await kafka.create_topics(topic_set, ("attachment",))
    return topic_set


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'followups.db'}"


@pytest.fixture
def documents(tmp_path: Path) -> Path:
    root = tmp_path / "documents"
    root.mkdir()
    return root
