"""``claimflow handle status-check`` killed while polling, then restarted: it resumes by id."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
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


def _row(database: Path, command_id: str) -> tuple[str, str | None] | None:
    if not database.exists():
        return None
    db = sqlite3.connect(database)
    try:
        row = db.execute(
            "SELECT state, integrex_request_id FROM status_checks WHERE command_id = ?",
            (command_id,),
        ).fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        db.close()
    return None if row is None else (str(row[0]), row[1])


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(CLAIMFLOW), "handle", "status-check"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_a_handler_killed_while_polling_resumes_by_id_without_asking_again(
    kafka: Kafka, topics: TopicSet, integrex_sandbox: Sandbox, tmp_path: Path
) -> None:
    database = tmp_path / "followups.db"
    url = f"sqlite+aiosqlite:///{database}"
    await prepare_database(url)
    await integrex_sandbox.configure(pending_polls=1_000_000, category_code="F1")
    command = status_check()
    env = {
        **os.environ,
        "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap,
        "CLAIMFLOW_KAFKA__TOPIC_PREFIX": topics.prefix,
        "CLAIMFLOW_DATABASE__URL": url,
        "CLAIMFLOW_HANDLERS__HEALTH_PORT": "0",
        "CLAIMFLOW_INTEGREX__BASE_URL": integrex_sandbox.url,
        "CLAIMFLOW_INTEGREX__CLIENT_ID": CLIENT_ID,
        "CLAIMFLOW_INTEGREX__CLIENT_SECRET": INTEGREX_SECRET,
        "CLAIMFLOW_INTEGREX__POLL_INTERVAL_SECONDS": "0.05",
        "CLAIMFLOW_INTEGREX__POLL_MAX_INTERVAL_SECONDS": "0.1",
        "CLAIMFLOW_FOLLOWUPS__LEASE_SECONDS": "2",
        "CLAIMFLOW_FOLLOWUPS__TICK_SECONDS": "0.2",
        "CLAIMFLOW_LOGGING__FORMAT": "json",
    }
    log = tmp_path / "handler.log"
    await kafka.send_command(topics.status_check_requests, command)

    first = _start(env, log)
    try:
        await eventually(lambda: (_row(database, command.command_id) or ("",))[0] == "submitted")
        polls = (await integrex_sandbox.responses("claim_info.fetch")).get("202", 0)
        await eventually(
            lambda: _more_polls(integrex_sandbox, polls), within=10
        )  # polling, not asking
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    recorded = _row(database, command.command_id)
    assert recorded is not None
    await integrex_sandbox.configure(pending_polls=0)
    for inquiry in integrex_sandbox.state.inquiries.values():
        inquiry.polls_left = 0

    second = _start(env, log)
    try:
        [result, *copies] = await kafka.wait_for(
            topics.status_check_results, StatusCheckResult, within=90
        )
        # A re-delivered command re-publishes the stored result: a copy, same message id.
        assert all(copy == result for copy in copies)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()

    assert result.outcome == "answered"
    assert result.integrex_request_id == recorded[1]
    assert await integrex_sandbox.submissions() == {command.claim.submission_number: 1}
    text = log.read_text()
    assert INTEGREX_SECRET not in text
    assert "Bixby" not in text


async def _more_polls(sandbox: Sandbox, before: int) -> bool:
    return (await sandbox.responses("claim_info.fetch")).get("202", 0) > before
