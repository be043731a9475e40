"""`claimflow route` killed mid-batch and restarted: every claim message exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.request
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

WEBHOOKS = 40
CLAIMS_PER_WEBHOOK = 50


def _start_router(kafka: RouterKafka, group: str, health_port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap,
        "CLAIMFLOW_KAFKA__TOPIC_PREFIX": kafka.prefix,
        "CLAIMFLOW_ROUTER__GROUP_ID": group,
        "CLAIMFLOW_ROUTER__TRANSACTIONAL_ID_PREFIX": group,
        "CLAIMFLOW_HANDLERS__HEALTH_PORT": str(health_port),
        "CLAIMFLOW_LOGGING__LEVEL": "WARNING",
        "CLAIMFLOW_LOGGING__FORMAT": "json",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "claimflow.cli", "route"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _claims_out(health_port: int) -> float:
    """claimflow_router_claim_messages_total of the running router (0 until it serves)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/metrics", timeout=1) as r:
            text = r.read().decode()
    except OSError:
        return 0.0
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("claimflow_router_claim_messages_total{")
    )


async def _wait(condition: Callable[[], Awaitable[bool]], *, within: float) -> None:
    async with asyncio.timeout(within):
        while not await condition():  # noqa: ASYNC110 - polls another process over HTTP
            await asyncio.sleep(0.05)


async def test_router_killed_mid_batch_publishes_each_claim_message_exactly_once(
    router_kafka: RouterKafka, group: str, sample_payload: dict[str, Any]
) -> None:
    log_ids = [str(uuid.uuid4()) for _ in range(WEBHOOKS)]
    await router_kafka.publish(
        [webhook(sample_payload, log_id=log_id, claims=CLAIMS_PER_WEBHOOK) for log_id in log_ids]
    )
    expected = {
        message_id(log_id, 0, 0, c) for log_id in log_ids for c in range(CLAIMS_PER_WEBHOOK)
    }
    claim_topic = router_kafka.topics().claim_payments

    health_port = free_port()
    first = _start_router(router_kafka, group, health_port)
    try:

        async def some_routed() -> bool:
            assert first.poll() is None, first.stderr.read() if first.stderr else b""
            return _claims_out(health_port) > 0

        await _wait(some_routed, within=60)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
        if first.stderr:
            first.stderr.close()
    assert _claims_out(health_port) == 0  # really gone

    second = _start_router(router_kafka, group, free_port())
    try:

        async def all_routed() -> bool:
            assert second.poll() is None
            return len(await router_kafka.read_all(claim_topic)) >= len(expected)

        await _wait(all_routed, within=90)
        await asyncio.sleep(1.0)  # a duplicate, if any, would be committed by now
    finally:
        second.send_signal(signal.SIGTERM)
        _, stderr = second.communicate(timeout=30)
    assert second.returncode == 0, stderr.decode()

    records = await router_kafka.read_all(claim_topic)
    counts = Counter(header(record, HEADERS.MESSAGE_ID) for record in records)
    assert set(counts) == expected
    assert max(counts.values()) == 1
    # The kill did interrupt transactions: their claim messages were written, then aborted.
    written = await router_kafka.read_all(claim_topic, committed=False)
    assert len(written) > len(records)
