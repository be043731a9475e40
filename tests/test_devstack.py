"""The local tooling itself: a real broker with the topic contract, and a real PostgreSQL."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from claimflow.devstack.kafka import KafkaBroker
from router.topics import all_topic_names


@pytest.mark.kafka
async def test_local_broker_has_every_topic_of_the_contract(kafka_broker: KafkaBroker) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    await admin.start()
    try:
        topics = set(await admin.list_topics())
    finally:
        await admin.close()
    assert set(all_topic_names()) <= topics


@pytest.mark.postgres
def test_local_postgres_answers_queries(postgres_url: str) -> None:
    async def query() -> int:
        conn = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
        try:
            return int(await conn.fetchval("SELECT 40 + 2"))
        finally:
            await conn.close()

    assert asyncio.run(query()) == 42
