"""`claimflow route` killed mid-batch and restarted: every claim message exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from router_support import RouterKafka, header, webhook

from claimflow.devstack.kafka import free_port
from router.messages import message_id
from router.topics import HEADERS

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

# Large deliveries make long transactions, so that the kill lands inside one.
WEBHOOKS = 20
CLAIMS_PER_WEBHOOK = 500


def _start_router(kafka: RouterKafka, group: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap,
        "CLAIMFLOW_KAFKA__TOPIC_PREFIX": kafka.prefix,
        "CLAIMFLOW_ROUTER__GROUP_ID": group,
        "CLAIMFLOW_ROUTER__TRANSACTIONAL_ID_PREFIX": group,
        "CLAIMFLOW_HANDLERS__HEALTH_PORT": str(free_port()),
        "CLAIMFLOW_LOGGING__LEVEL": "WARNING",
        "CLAIMFLOW_LOGGING__FORMAT": "json",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "claimflow.cli", "route"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def _wait(condition: Callable[[], Awaitable[bool]], *, within: float) -> None:
    async with asyncio.timeout(within):
        while not await condition():  # noqa: ASYNC110 - polls another process through Kafka
            await asyncio.sleep(0.01)


async def test_router_killed_mid_batch_publishes_each_claim_message_exactly_once(
    router_kafka: RouterKafka, group: str, sample_payload: dict[str, Any]
) -> None:
    log_ids: list[str] = []

    async def publish_more() -> None:
        more = [str(uuid.uuid4()) for _ in range(WEBHOOKS)]
        log_ids.extend(more)
        await router_kafka.publish(
            [webhook(sample_payload, log_id=log_id, claims=CLAIMS_PER_WEBHOOK) for log_id in more]
        )

    await publish_more()
    webhook_topic = router_kafka.topics().webhook_payment_batch
    claim_topic = router_kafka.topics().claim_payments

    first = _start_router(router_kafka, group)
    try:

        async def frozen_in_a_transaction() -> bool:
            """Freeze the router; True if it holds claim messages written but not committed."""
            assert first.poll() is None, first.stderr.read() if first.stderr else b""
            first.send_signal(signal.SIGSTOP)
            written = await router_kafka.end_offsets(claim_topic, committed=False)
            stable = await router_kafka.end_offsets(claim_topic)
            if any(written[p] > stable[p] for p in written):
                return True
            first.send_signal(signal.SIGCONT)
            # A fast router may route everything between two looks: give it more to route.
            ends = await router_kafka.end_offsets(webhook_topic)
            if await router_kafka.group_offsets(group, webhook_topic) == ends:
                await publish_more()
            return False

        await _wait(frozen_in_a_transaction, within=120)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
        if first.stderr:
            first.stderr.close()

    second = _start_router(router_kafka, group)
    try:
        ends = await router_kafka.end_offsets(webhook_topic)

        async def all_routed() -> bool:
            assert second.poll() is None
            return await router_kafka.group_offsets(group, webhook_topic) == ends

        await _wait(all_routed, within=90)
    finally:
        second.send_signal(signal.SIGTERM)
        _, stderr = second.communicate(timeout=30)
    assert second.returncode == 0, stderr.decode()

    expected = {
        message_id(log_id, 0, 0, c) for log_id in log_ids for c in range(CLAIMS_PER_WEBHOOK)
    }
    records = await router_kafka.read_all(claim_topic)
    counts = Counter(header(record, HEADERS.MESSAGE_ID) for record in records)
    assert set(counts) == expected
    assert max(counts.values()) == 1
    # The kill did interrupt a transaction: claim messages were written, then aborted.
    written = await router_kafka.read_all(claim_topic, committed=False)
    assert len(written) > len(records)
