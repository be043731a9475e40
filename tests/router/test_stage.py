"""The router stage on the real broker: one message per claim, exactly once, lanes apart."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
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


async def test_test_traffic_never_reaches_production_topics(
    router_kafka: RouterKafka, group: str, sample_payload: dict[str, Any]
) -> None:
    production, test = str(uuid.uuid4()), str(uuid.uuid4())
    await router_kafka.publish(
        [
            webhook(sample_payload, log_id=production, claims=2),
            webhook(sample_payload, log_id=test, claims=3, test=True),
        ]
    )
    prod_topics, test_topics = router_kafka.topics(), router_kafka.topics(test=True)
    async with running_router(router_kafka, group) as router:
        await wait_until(
            lambda: (
                router.count("claim_messages", prod_topics.claim_payments) == 2
                and router.count("claim_messages", test_topics.claim_payments) == 3
            )
        )

    prod_records = await router_kafka.read_all(prod_topics.claim_payments)
    test_records = await router_kafka.read_all(test_topics.claim_payments)
    assert {header(r, HEADERS.REDOX_LOG_ID) for r in prod_records} == {production}
    assert {header(r, HEADERS.TEST) for r in prod_records} == {"false"}
    assert {header(r, HEADERS.REDOX_LOG_ID) for r in test_records} == {test}
    assert {header(r, HEADERS.TEST) for r in test_records} == {"true"}
    assert all(json.loads(r.value)["delivery"]["test"] for r in test_records)


async def test_all_events_of_one_claim_stay_on_one_partition_in_order(
    router_kafka: RouterKafka, group: str, sample_payload: dict[str, Any]
) -> None:
    # Six deliveries in a known order (one webhook partition), each about the same 3 claims.
    log_ids = [str(uuid.uuid4()) for _ in range(6)]
    claim_numbers = ["CLAIM-A", "CLAIM-B", "CLAIM-C"]
    await router_kafka.publish(
        [webhook(sample_payload, log_id=log_id, claim_numbers=claim_numbers) for log_id in log_ids],
        partition=1,
    )
    topics = router_kafka.topics()
    async with running_router(router_kafka, group) as router:
        await wait_until(lambda: router.count("claim_messages", topics.claim_payments) == 18)

    records = await router_kafka.read_all(topics.claim_payments)
    for number in claim_numbers:
        events = sorted((r for r in records if r.key.decode() == number), key=lambda r: r.offset)
        assert len({r.partition for r in events}) == 1
        assert [header(r, HEADERS.REDOX_LOG_ID) for r in events] == log_ids


async def test_unsplittable_webhook_goes_to_the_dead_letter_topic_without_values(
    router_kafka: RouterKafka, group: str, sample_payload: dict[str, Any]
) -> None:
    log_id = str(uuid.uuid4())
    broken = webhook(sample_payload, log_id=log_id)
    broken["Transactions"][0]["Payments"][0]["Claims"][0]["ChargedAmount"] = "SECRET-123"
    await router_kafka.publish([broken])
    topics = router_kafka.topics()
    async with running_router(router_kafka, group) as router:
        await wait_until(lambda: router.count("dead_lettered", topics.webhook_payment_batch) == 1)

    [dead] = await router_kafka.read_all(topics.router_dead_letter)
    error = header(dead, HEADERS.ERROR) or ""
    assert "Transactions[0].Payments[0].Claims[0].ChargedAmount" in error
    assert "SECRET" not in error
    assert header(dead, HEADERS.ORIGINAL_TOPIC) == topics.webhook_payment_batch
    assert header(dead, HEADERS.REDOX_LOG_ID) == log_id
    assert await router_kafka.read_all(topics.claim_payments) == []


async def test_each_submitted_claim_becomes_one_claim_submission_message(
    router_kafka: RouterKafka, group: str
) -> None:
    log_id = str(uuid.uuid4())
    submission = {
        "Meta": {
            "DataModel": "Claim",
            "EventType": "SubmissionBatch",
            "Test": False,
            "Logs": [{"ID": log_id, "AttemptID": "a1"}],
        },
        "Transactions": [
            {
                "ID": "T1",
                "Claims": [
                    {"SubmissionNumber": "S-1", "ChargedAmount": "100.00"},
                    {"SubmissionNumber": "S-2", "ChargedAmount": "25.50"},
                ],
            }
        ],
    }
    await router_kafka.publish([submission])
    topics = router_kafka.topics()
    async with running_router(router_kafka, group) as router:
        await wait_until(lambda: router.count("claim_messages", topics.claim_submissions) == 2)

    records = await router_kafka.read_all(topics.claim_submissions)
    assert sorted(r.key.decode() for r in records) == ["S-1", "S-2"]
    assert {header(r, HEADERS.SCHEMA) for r in records} == {"claimflow.claim-submission.v1"}
    assert {header(r, HEADERS.EVENT_TYPE) for r in records} == {"SubmissionBatch"}
    assert await router_kafka.read_all(topics.claim_payments) == []


@pytest.mark.slow
async def test_two_replicas_and_a_rebalance_route_each_claim_once(
    router_kafka: RouterKafka, group: str, sample_payload: dict[str, Any]
) -> None:
    first_ids = [str(uuid.uuid4()) for _ in range(6)]
    second_ids = [str(uuid.uuid4()) for _ in range(6)]
    first = [webhook(sample_payload, log_id=log_id) for log_id in first_ids]
    retries = [
        {**p, "Meta": {**p["Meta"], "Logs": [{"ID": p["Meta"]["Logs"][0]["ID"], "AttemptID": "r"}]}}
        for p in first
    ]
    topics = router_kafka.topics()
    await router_kafka.publish(first)
    async with running_router(router_kafka, group) as one:
        await wait_until(lambda: one.count("claim_messages", topics.claim_payments) == 12)
        async with running_router(router_kafka, group) as two:
            # The retries and new deliveries are routed by whichever replica owns the partition.
            await router_kafka.publish(
                retries + [webhook(sample_payload, log_id=log_id) for log_id in second_ids]
            )

            def routed() -> float:
                return sum(r.count("claim_messages", topics.claim_payments) for r in (one, two))

            def dropped() -> float:
                topic = topics.webhook_payment_batch
                return sum(r.count("duplicates_dropped", topic) for r in (one, two))

            await wait_until(lambda: routed() >= 24 and dropped() >= 6)
            await asyncio.sleep(1.0)  # time for a duplicate, if any, to be committed

    records = await router_kafka.read_all(topics.claim_payments)
    counts = Counter(header(r, HEADERS.MESSAGE_ID) for r in records)
    assert len(counts) == 24
    assert max(counts.values()) == 1
    assert {header(r, HEADERS.REDOX_LOG_ID) for r in records} == {*first_ids, *second_ids}
