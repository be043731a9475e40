"""The router stage on the real broker: one message per claim, exactly once, lanes apart."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from router_support import RouterKafka, header, running_router, wait_until, webhook

from router.messages import message_id
from router.topics import HEADERS

pytestmark = pytest.mark.kafka


async def test_each_claim_payment_becomes_one_message_keyed_by_submission_number(
    router_kafka: RouterKafka, group: str, sample_payload: dict[str, Any]
) -> None:
    log_id = str(uuid.uuid4())
    await router_kafka.publish([webhook(sample_payload, log_id=log_id, claims=3)])
    topics = router_kafka.topics()
    async with running_router(router_kafka, group) as router:
        await wait_until(lambda: router.count("deliveries", topics.webhook_payment_batch) == 1)

    records = await router_kafka.read_all(topics.claim_payments)
    assert sorted(r.key.decode() for r in records) == [f"{log_id[:8]}-{i}" for i in range(3)]
    for record in records:
        body = json.loads(record.value)
        position = body["position"]
        expected_id = message_id(
            log_id, position["transaction"], position["payment"], position["claim"]
        )
        assert body["message_id"] == expected_id
        assert body["claim"]["SubmissionNumber"] == record.key.decode()
        assert body["transaction"]["Submitter"]["Name"] == "National Insurance Company of Redox"
        assert body["patient"]["Identifiers"]
        assert header(record, HEADERS.MESSAGE_ID) == expected_id
        assert header(record, HEADERS.SCHEMA) == "claimflow.claim-payment.v1"
        assert header(record, HEADERS.CONTENT_TYPE) == "application/json"
        assert header(record, HEADERS.DATA_MODEL) == "Claim"
        assert header(record, HEADERS.EVENT_TYPE) == "PaymentBatch"
        assert header(record, HEADERS.REDOX_LOG_ID) == log_id
        assert header(record, HEADERS.TEST) == "false"


async def test_retried_delivery_is_not_published_twice(
    router_kafka: RouterKafka, group: str, sample_payload: dict[str, Any]
) -> None:
    log_id = str(uuid.uuid4())
    first = webhook(sample_payload, log_id=log_id, claims=2)
    retry = {**first, "Meta": {**first["Meta"], "Logs": [{"ID": log_id, "AttemptID": "retry-1"}]}}
    topics = router_kafka.topics()
    await router_kafka.publish([first, retry])
    async with running_router(router_kafka, group) as router:
        await wait_until(lambda: router.count("deliveries", topics.webhook_payment_batch) == 2)
        assert router.count("duplicates_dropped", topics.webhook_payment_batch) == 1

    # After a restart the seen deliveries come back from the changelog.
    retry_again = {**first, "Meta": {**first["Meta"], "Logs": [{"ID": log_id, "AttemptID": "2"}]}}
    await router_kafka.publish([retry_again])
    async with running_router(router_kafka, group) as router:
        await wait_until(lambda: router.count("deliveries", topics.webhook_payment_batch) == 1)
        assert router.count("duplicates_dropped", topics.webhook_payment_batch) == 1

    records = await router_kafka.read_all(topics.claim_payments)
    ids = [header(r, HEADERS.MESSAGE_ID) for r in records]
    assert len(ids) == 2
    assert len(set(ids)) == 2
    assert {header(r, HEADERS.REDOX_ATTEMPT_ID) for r in records} == {
        first["Meta"]["Logs"][0]["AttemptID"]
    }
