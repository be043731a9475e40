"""``claimflow handle status-check`` stopped during a poll -- kill -9 or SIGTERM -- then restarted.

Twenty inquiries are outstanding at Integrex (the sandbox answers 202 and holds each poll for
seconds) when the signal arrives. SIGTERM must end the process cleanly within the pod's 30 s
grace period; after a restart every inquiry completes once and Integrex saw one POST each.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from followup_support import (
    CLIENT_ID,
    INTEGREX_SECRET,
    Kafka,
    Sandbox,
    eventually,
    prepare_database,
    status_check,
)

from router.followups import StatusCheckResult
from router.topics import TopicSet

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

CLAIMFLOW = Path(sys.executable).with_name("claimflow")

#: k8s/base/status-check.yaml: terminationGracePeriodSeconds.
GRACE_SECONDS = 30


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(CLAIMFLOW), "handle", "status-check"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["kill -9", "SIGTERM"])
async def test_a_handler_stopped_during_a_poll_resumes_and_completes_each_inquiry_once(
    stop: signal.Signals,
    kafka: Kafka,
    topics: TopicSet,
    integrex_sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    database = tmp_path / "followups.db"
    url = f"sqlite+aiosqlite:///{database}"
    await prepare_database(url)
    await integrex_sandbox.configure(pending_seconds=3600, category_code="F1", status_code="65")
    commands = [status_check() for _ in range(20)]
    env = {
        **os.environ,
        "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap,
        "CLAIMFLOW_KAFKA__TOPIC_PREFIX": topics.prefix,
        "CLAIMFLOW_DATABASE__URL": url,
        "CLAIMFLOW_HANDLERS__HEALTH_PORT": "0",
        "CLAIMFLOW_INTEGREX__BASE_URL": integrex_sandbox.url,
        "CLAIMFLOW_INTEGREX__CLIENT_ID": CLIENT_ID,
        "CLAIMFLOW_INTEGREX__CLIENT_SECRET": INTEGREX_SECRET,
        "CLAIMFLOW_INTEGREX__POLL_INTERVAL_SECONDS": "0.2",
        "CLAIMFLOW_INTEGREX__POLL_MAX_INTERVAL_SECONDS": "0.5",
        "CLAIMFLOW_INTEGREX__REQUESTS_PER_SECOND": "1000",
        "CLAIMFLOW_FOLLOWUPS__LEASE_SECONDS": "3",
        "CLAIMFLOW_FOLLOWUPS__TICK_SECONDS": "0.2",
        "CLAIMFLOW_LOGGING__FORMAT": "json",
    }
    log = tmp_path / "handler.log"
    for command in commands:
        await kafka.send_command(topics.status_check_requests, command)

    first = _start(env, log)
    try:
        await eventually(lambda: _all_submitted(integrex_sandbox, len(commands)), within=90)
        # Hold every poll for a while, so the signal lands while polls are in flight.
        await integrex_sandbox.fault(
            kind="slow", delay_seconds=4.0, count=100_000, endpoint="claim_info.fetch"
        )
        await eventually(lambda: _polls_in_flight(integrex_sandbox), within=30)
        first.send_signal(stop)
        code = first.wait(timeout=GRACE_SECONDS)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    if stop == signal.SIGTERM:
        assert code == 0, "a clean stop within the grace period"

    integrex_sandbox.state.control.faults.clear()
    await integrex_sandbox.configure(pending_seconds=0)
    second = _start(env, log)
    try:
        await eventually(lambda: _all_answered(kafka, topics, len(commands)), within=120)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=GRACE_SECONDS) == 0
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()

    results = await kafka.models(topics.status_check_results, StatusCheckResult)
    per_command = Counter(r.command_id for r in results)
    assert set(per_command) == {c.command_id for c in commands}
    assert set(per_command.values()) == {1}, "each inquiry completes once"
    assert {r.outcome for r in results} == {"answered"}
    assert await integrex_sandbox.submissions() == {
        c.claim.submission_number: 1 for c in commands
    }, "no inquiry sent twice"
    text = log.read_text()
    assert INTEGREX_SECRET not in text
    assert "Bixby" not in text


async def _all_submitted(sandbox: Sandbox, count: int) -> bool:
    return sum((await sandbox.submissions()).values()) >= count


async def _polls_in_flight(sandbox: Sandbox) -> bool:
    stats = await sandbox._call("GET", "/_sandbox/stats")
    return int(stats["in_flight"].get("claim_info.fetch", 0)) > 0


async def _all_answered(kafka: Kafka, topics: TopicSet, count: int) -> bool:
    results = await kafka.models(topics.status_check_results, StatusCheckResult)
    return len({r.command_id for r in results}) >= count
