"""Real HTTP against `claimflow serve`: a broker outage and a receiver restart lose nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from receiver_support import (
    TEST_PAYMENT_BATCH_TOPIC,
    TOKEN,
    ServeProcess,
    headers_of,
    read_messages,
)

from claimflow.devstack.kafka import KafkaBroker
from router.messages import webhook_message_id
from sandboxes.redox_sender import RedoxSender

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _with_log_id(payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    log_id = str(uuid.uuid4())
    payload["Meta"]["Logs"][0]["ID"] = log_id
    return payload, log_id


async def _assert_one_delivery_at_the_webhook_topic(
    bootstrap_servers: str, log_id: str, accepted_attempts: set[str]
) -> None:
    """Nothing lost; any copies are the same delivery (same log id and message id)."""
    records = await read_messages(bootstrap_servers, TEST_PAYMENT_BATCH_TOPIC, key=log_id)
    assert records, "the delivery was lost"
    assert {headers_of(r)["redox-log-id"] for r in records} == {log_id}
    assert {headers_of(r)["claimflow-message-id"] for r in records} == {webhook_message_id(log_id)}
    assert {r.partition for r in records} == {records[0].partition}
    # Every attempt that got a 200 is in Kafka; nothing else is, but a 503'd attempt whose
    # send timed out may still have landed late (the router de-duplicates by log id).
    assert accepted_attempts <= {headers_of(r)["redox-attempt-id"] for r in records}


async def test_broker_stopped_mid_request_answers_503_then_the_retry_is_accepted(
    kafka_broker_factory: Callable[[], KafkaBroker],
    serve_process: list[ServeProcess],
    tmp_path: Path,
    sample_payload: dict[str, Any],
) -> None:
    broker = await asyncio.to_thread(kafka_broker_factory)
    receiver = ServeProcess(broker.bootstrap_servers, tmp_path / "receiver.log")
    serve_process.append(receiver)
    receiver.start()
    payload, log_id = _with_log_id(sample_payload)

    async with RedoxSender(token=TOKEN, backoff_seconds=1.0, max_attempts=30) as sender:
        warm = await sender.deliver(receiver.url, payload, fresh_log_id=True)
        assert warm.delivered
        # The broker goes away while a request is in flight.
        in_flight = asyncio.create_task(sender.post(receiver.url, payload))
        await asyncio.to_thread(broker.stop)
        started = time.monotonic()
        answers = [await in_flight, await sender.post(receiver.url, payload)]
        assert answers[-1].status_code == 503
        assert answers[-1].headers["retry-after"] == "1"
        assert time.monotonic() - started < 3.0 + 5.0  # publish_timeout_seconds + slack
        async with httpx.AsyncClient() as probe:
            assert (await probe.get(receiver.base("/readyz"))).status_code == 503
            assert (await probe.get(receiver.base("/healthz"))).status_code == 200

        # Redox retries with the same log id while the broker comes back.
        retrying = asyncio.create_task(sender.deliver(receiver.url, payload))
        await asyncio.to_thread(broker.start)
        delivery = await retrying

    assert delivery.delivered, delivery.attempts
    assert delivery.log_id == log_id
    accepted = {a.attempt_id for a in delivery.attempts if a.status == 200}
    if answers[0].status_code == 200:
        accepted.add(payload["Meta"]["Logs"][0]["AttemptID"])
    await _assert_one_delivery_at_the_webhook_topic(broker.bootstrap_servers, log_id, accepted)
    assert receiver.stop()


async def test_retried_delivery_after_a_receiver_restart_is_accepted_with_the_same_ids(
    kafka_broker: KafkaBroker,
    serve_process: list[ServeProcess],
    tmp_path: Path,
    sample_payload: dict[str, Any],
) -> None:
    receiver = ServeProcess(kafka_broker.bootstrap_servers, tmp_path / "receiver.log")
    serve_process.append(receiver)
    receiver.start()
    payload, log_id = _with_log_id(sample_payload)

    async with RedoxSender(token=TOKEN, backoff_seconds=0.5, max_attempts=40) as sender:
        first = await sender.deliver(receiver.url, payload)
        assert first.delivered
        assert receiver.stop()  # SIGTERM: drains and flushes
        # Redox did not see our answer (say) and retries while we restart.
        retrying = asyncio.create_task(sender.deliver(receiver.url, payload))
        await asyncio.sleep(1.0)
        await asyncio.to_thread(receiver.start)
        retry = await retrying

    assert retry.delivered, retry.attempts
    assert retry.attempts[0].status is None  # the first retry found nobody listening
    accepted = {a.attempt_id for d in (first, retry) for a in d.attempts if a.status == 200}
    assert len(accepted) == 2
    await _assert_one_delivery_at_the_webhook_topic(
        kafka_broker.bootstrap_servers, log_id, accepted
    )
