"""Fixtures of the handler runtime tests: each test gets topics of its own on the session broker."""

from __future__ import annotations

import pytest
from runtime_support import KafkaTools, unique_prefix

from claimflow.devstack.kafka import KafkaBroker
from router.topics import TopicSet


@pytest.fixture
def kafka_tools(kafka_broker: KafkaBroker) -> KafkaTools:
    return KafkaTools(kafka_broker.bootstrap_servers)


@pytest.fixture
def topic_set() -> TopicSet:
    """A lane of topics nobody else uses (a unique prefix); tests create the ones they need."""
    return TopicSet(prefix=unique_prefix())
