"""Fixtures of the router tests: each test gets a topic prefix of its own on the session broker."""

from __future__ import annotations

import uuid

import pytest
from router_support import RouterKafka, unique_prefix

from claimflow.devstack.kafka import KafkaBroker


@pytest.fixture
async def router_kafka(kafka_broker: KafkaBroker) -> RouterKafka:
    kafka = RouterKafka(kafka_broker.bootstrap_servers, unique_prefix())
    await kafka.create_topics()
    return kafka


@pytest.fixture
def group() -> str:
    """A consumer group and transactional-id prefix nobody else uses."""
    return f"router-test-{uuid.uuid4().hex[:8]}"
