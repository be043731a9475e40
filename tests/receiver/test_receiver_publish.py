"""What an accepted webhook looks like in Kafka: raw bytes, keyed by log id, with headers."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from receiver_support import TEST_PAYMENT_BATCH_TOPIC, TOKEN, headers_of, read_messages

from claimflow.devstack.kafka import KafkaBroker
from router.messages import webhook_message_id
from sandboxes.redox_sender import RedoxSender

pytestmark = pytest.mark.kafka


async def test_sample_is_published_as_received_keyed_by_log_id(
    client: httpx.AsyncClient, kafka_broker: KafkaBroker, sample_bytes: bytes
) -> None:
    log_id = json.loads(sample_bytes)["Meta"]["Logs"][0]["ID"]
    before = await read_messages(
        kafka_broker.bootstrap_servers, TEST_PAYMENT_BATCH_TOPIC, key=log_id
    )

    answer = await client.post(
        "/webhooks/redox",
        content=sample_bytes,
        headers={"verification-token": TOKEN, "content-type": "application/json"},
    )

    assert answer.status_code == 200
    assert answer.json() == {
        "status": "accepted",
        "logId": log_id,
        "messageId": webhook_message_id(log_id),
    }
    after = await read_messages(
        kafka_broker.bootstrap_servers, TEST_PAYMENT_BATCH_TOPIC, key=log_id
    )
    assert len(after) == len(before) + 1
    record = after[-1]
    assert record.value == sample_bytes
    assert headers_of(record) == {
        "claimflow-message-id": webhook_message_id(log_id),
        "claimflow-schema": "redox.Claim.PaymentBatch",
        "content-type": "application/json",
        "redox-data-model": "Claim",
        "redox-event-type": "PaymentBatch",
        "redox-log-id": log_id,
        "redox-attempt-id": "925d1617-2fe0-468c-a14c-f8c04b572c54",
        "redox-test": "true",
    }


async def test_unknown_fields_are_accepted_and_kept(
    sender: RedoxSender, kafka_broker: KafkaBroker, sample_payload: dict[str, Any]
) -> None:
    sample_payload["Meta"]["NewRedoxField"] = {"nested": [1, 2]}
    sample_payload["Transactions"][0]["Payments"][0]["Claims"][0]["Extra"] = "kept"

    delivery = await sender.deliver("/webhooks/redox", sample_payload, fresh_log_id=True)

    assert delivery.status == 200
    (record,) = await read_messages(
        kafka_broker.bootstrap_servers, TEST_PAYMENT_BATCH_TOPIC, key=delivery.log_id
    )
    published = json.loads(record.value)
    assert published["Meta"]["NewRedoxField"] == {"nested": [1, 2]}
    assert published["Transactions"][0]["Payments"][0]["Claims"][0]["Extra"] == "kept"


@pytest.mark.parametrize(
    ("event_type", "test", "topic"),
    [
        ("PaymentBatch", False, "claimflow.redox.claim.payment-batch.v1"),
        ("Submit", True, "claimflow.test.redox.claim.submit.v1"),
        ("SubmissionBatch", False, "claimflow.redox.claim.submit.v1"),
    ],
)
async def test_route_table_picks_the_topic_by_event_type_and_test_flag(
    sender: RedoxSender,
    kafka_broker: KafkaBroker,
    sample_payload: dict[str, Any],
    event_type: str,
    test: bool,
    topic: str,
) -> None:
    sample_payload["Meta"].update({"EventType": event_type, "Test": test})
    if event_type != "PaymentBatch":
        sample_payload["Transactions"] = [{"ID": "T1", "Claims": [{"SubmissionNumber": "S1"}]}]

    delivery = await sender.deliver("/webhooks/redox", sample_payload, fresh_log_id=True)

    assert delivery.status == 200
    (record,) = await read_messages(kafka_broker.bootstrap_servers, topic, key=delivery.log_id)
    assert headers_of(record)["redox-test"] == ("true" if test else "false")


async def test_redelivery_is_published_again_with_the_same_ids_and_counted(
    sender: RedoxSender,
    client: httpx.AsyncClient,
    kafka_broker: KafkaBroker,
    sample_payload: dict[str, Any],
) -> None:
    sample_payload["Meta"]["Logs"][0]["ID"] = log_id = str(uuid.uuid4())

    first = await sender.deliver("/webhooks/redox", sample_payload)
    second = await sender.deliver("/webhooks/redox", sample_payload)

    assert (first.status, second.status) == (200, 200)
    records = await read_messages(
        kafka_broker.bootstrap_servers, TEST_PAYMENT_BATCH_TOPIC, key=log_id
    )
    assert len(records) == 2
    assert {headers_of(r)["claimflow-message-id"] for r in records} == {webhook_message_id(log_id)}
    attempt_ids = [headers_of(r)["redox-attempt-id"] for r in records]
    assert attempt_ids == [first.attempts[0].attempt_id, second.attempts[0].attempt_id]
    metrics = (await client.get("/metrics")).text
    assert "claimflow_receiver_duplicate_deliveries_total 1.0" in metrics
    assert 'claimflow_receiver_requests_total{outcome="accepted"} 2.0' in metrics
