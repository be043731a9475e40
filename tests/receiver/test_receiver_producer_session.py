"""A broker that lost a producer's sequence must not refuse a partition for ever.

Found by the fault soak: a batch in flight when the broker restarted expired in the producer's
buffer; the broker then answered ``OutOfOrderSequenceNumber`` to every later batch of that
partition, and every Redox delivery keyed to it got 503 until the receiver was restarted.

The lost batch is played here by numbering the next batch as if three had been written in
between (what the producer believes after an expired batch), against the real broker, which
gives its real answer.
"""

from __future__ import annotations

import json
import uuid

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import OutOfOrderSequenceNumber
from receiver_support import TEST_PAYMENT_BATCH_TOPIC, read_messages

from claimflow.devstack.kafka import KafkaBroker
from claimflow.kafka_clients import IdempotentProducer, producer_kwargs
from claimflow.settings import KafkaSettings
from receiver.publisher import WebhookPublisher

pytestmark = pytest.mark.kafka

TOPIC = TEST_PAYMENT_BATCH_TOPIC


def _lose_a_batch(producer: AIOKafkaProducer, partition: int) -> None:
    """Make the producer number its next batch as if batches had been written in between."""
    producer._txn_manager.increment_sequence_number(TopicPartition(TOPIC, partition), 3)  # type: ignore[attr-defined]


async def _values_for(bootstrap: str, key: bytes) -> list[bytes]:
    return [record.value for record in await read_messages(bootstrap, TOPIC, key=key.decode())]


async def test_the_plain_producer_is_refused_for_ever_once_the_broker_lost_its_sequence(
    kafka_broker: KafkaBroker,
) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers)
    producer = AIOKafkaProducer(**producer_kwargs(settings, role="test-plain"))
    await producer.start()
    try:
        key = uuid.uuid4().hex.encode()
        first = await producer.send_and_wait(TOPIC, b"first", key=key)
        _lose_a_batch(producer, first.partition)
        for _ in range(2):
            with pytest.raises(OutOfOrderSequenceNumber):
                await producer.send_and_wait(TOPIC, b"refused", key=key)
    finally:
        await producer.stop()


async def test_a_new_session_writes_the_refused_record_once(kafka_broker: KafkaBroker) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers)
    producer = IdempotentProducer(**producer_kwargs(settings, role="test-session"))
    await producer.start()
    try:
        key = uuid.uuid4().hex.encode()
        first = await producer.send_and_wait(TOPIC, b"first", key=key)
        _lose_a_batch(producer._producer, first.partition)

        second = await producer.send_and_wait(TOPIC, b"second", key=key)
        third = await producer.send_and_wait(TOPIC, b"third", key=key)

        assert producer.renewals == 1
        assert first.partition == second.partition == third.partition
        assert first.offset < second.offset < third.offset
    finally:
        await producer.stop()
    assert await _values_for(kafka_broker.bootstrap_servers, key) == [b"first", b"second", b"third"]


async def test_the_receiver_answers_deliveries_of_a_refused_partition_after_one_renewal(
    kafka_broker: KafkaBroker,
) -> None:
    settings = KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers)
    publisher = WebhookPublisher(settings)
    await publisher.start()
    try:
        key = str(uuid.uuid4())
        headers = [("content-type", b"application/json")]
        first = await publisher.publish(TOPIC, key=key, value=b"{}", headers=headers)
        _lose_a_batch(publisher._producer._producer, first.partition)

        bodies = [json.dumps({"n": n}).encode() for n in range(5)]
        published = [
            await publisher.publish(TOPIC, key=key, value=body, headers=headers) for body in bodies
        ]

        assert publisher._producer.renewals == 1
        assert [p.partition for p in published] == [first.partition] * 5
    finally:
        await publisher.stop()
    assert await _values_for(kafka_broker.bootstrap_servers, key.encode()) == [b"{}", *bodies]
