"""Fixtures every test area shares: the real Kafka broker, PostgreSQL and the Redox sample.

The broker and the PostgreSQL server are real processes started here, once per session, on
free loopback ports; tests that need to stop or kill a broker start their own with
``kafka_broker_factory``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from claimflow.devstack.kafka import KafkaBroker, free_port
from claimflow.devstack.postgres import LocalPostgres
from router.topic_admin import ensure_topics

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def sample_bytes() -> bytes:
    """The real Redox Claim.PaymentBatch sample, byte for byte."""
    return (FIXTURES / "redox-claim-paymentbatch.json").read_bytes()


@pytest.fixture
def sample_payload(sample_bytes: bytes) -> dict[str, Any]:
    """A fresh, mutable copy of the sample for variants."""
    payload: dict[str, Any] = json.loads(sample_bytes)
    return payload


def _start_broker(root: Path) -> KafkaBroker:
    broker = KafkaBroker(state_dir=root, port=free_port(), controller_port=free_port())
    broker.start()
    asyncio.run(ensure_topics(broker.bootstrap_servers))
    return broker


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """The session's real Apache Kafka broker (KRaft, single node), topics created."""
    broker = _start_broker(tmp_path_factory.mktemp("kafka"))
    yield broker
    broker.stop()


@pytest.fixture
def kafka_broker_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[], KafkaBroker]]:
    """Start private brokers that a test may stop, kill and restart; all stopped afterwards."""
    started: list[KafkaBroker] = []

    def start() -> KafkaBroker:
        broker = _start_broker(tmp_path_factory.mktemp("kafka-private"))
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.kill()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a real PostgreSQL server started for this session."""
    root = Path(tempfile.mkdtemp(prefix="claimflow-pg-"))
    root.chmod(0o755)
    server = LocalPostgres(state_dir=root / "pg", port=free_port())
    server.start()
    yield server.url
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
