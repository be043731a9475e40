"""A handler process killed mid-batch and restarted: no effect lost or doubled."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from runtime_support import KafkaTools, eventually

from handlers.runtime.runner import consumer_group
from router.topics import TopicSet

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SCRIPT = Path(__file__).with_name("runtime_recording_handler.py")
MESSAGES = 300


def _start(ledger: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, str(SCRIPT), str(ledger)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _count(ledger: Path, table: str) -> int:
    if not ledger.exists():
        return 0
    db = sqlite3.connect(ledger)
    try:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608 - test table names
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


async def test_a_handler_killed_mid_batch_and_restarted_neither_loses_nor_doubles_effects(
    kafka_tools: KafkaTools, topic_set: TopicSet, tmp_path: Path
) -> None:
    await kafka_tools.create_handler_topics(topic_set, "recorder")
    messages = [(f"claim-{i:04d}", f"payment {i}".encode()) for i in range(MESSAGES)]
    await kafka_tools.produce(topic_set.claim_payments, messages)
    ledger = tmp_path / "ledger.db"
    log = tmp_path / "handler.log"
    env = {
        **os.environ,
        "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS": kafka_tools.bootstrap,
        "CLAIMFLOW_KAFKA__TOPIC_PREFIX": topic_set.prefix,
        "CLAIMFLOW_HANDLERS__HEALTH_PORT": "0",
    }

    first = _start(ledger, env, log)
    try:
        await eventually(lambda: _count(ledger, "effects") >= 30)
    finally:
        first.kill()
        first.wait()
    assert _count(ledger, "effects") < MESSAGES, "the kill should land mid-batch"

    second = _start(ledger, env, log)
    try:
        await eventually(lambda: _count(ledger, "effects") == MESSAGES, within=120)
        group = consumer_group("recorder")
        end = await kafka_tools.end_offsets(topic_set.claim_payments)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()

    db = sqlite3.connect(ledger)
    try:
        effects = dict(db.execute("SELECT message_id, value FROM effects").fetchall())
    finally:
        db.close()
    assert effects == dict(messages)
    # SIGTERM drained and committed: nothing is left to redeliver.
    assert await kafka_tools.committed(group, topic_set.claim_payments) == end
