"""``claimflow handle attachment`` killed between "sent" and "recorded", then restarted.

The sandbox is slow to answer the POST; the handler process is SIGKILLed while the POST is in
flight (before or after the sandbox filed it). The restarted handler finds the row in
``sending`` and must never POST again: the sandbox's submission counter is the judge.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from followup_support import (
    AVAILITY_SECRET,
    CLIENT_ID,
    Kafka,
    Sandbox,
    attachment,
    eventually,
    prepare_database,
    put_documents,
)

from handlers.followups.attachment.submission import attachment_control_number
from router.followups import AttachmentResult
from router.topics import TopicSet

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

CLAIMFLOW = Path(sys.executable).with_name("claimflow")


def _row_state(database: Path, acn: str) -> str | None:
    if not database.exists():
        return None
    db = sqlite3.connect(database)
    try:
        row = db.execute(
            "SELECT state FROM attachment_submissions WHERE attachment_control_number = ?", (acn,)
        ).fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        db.close()
    return None if row is None else str(row[0])


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(CLAIMFLOW), "handle", "attachment"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


@pytest.mark.parametrize("filed", [True, False], ids=["after filing", "before filing"])
async def test_a_handler_killed_between_sending_and_recording_never_sends_twice(
    filed: bool,
    kafka: Kafka,
    topics: TopicSet,
    availity_sandbox: Sandbox,
    documents: Path,
    tmp_path: Path,
) -> None:
    database = tmp_path / "followups.db"
    url = f"sqlite+aiosqlite:///{database}"
    await prepare_database(url)
    command = attachment()
    put_documents(documents, command.claim.submission_number, list(command.loinc_codes))
    acn = attachment_control_number(command)
    # The answer (or the filing itself) comes long after the kill.
    await availity_sandbox.fault(
        kind="slow", delay_seconds=6.0, after_processing=filed, endpoint="attachment.submit"
    )
    env = {
        **os.environ,
        "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap,
        "CLAIMFLOW_KAFKA__TOPIC_PREFIX": topics.prefix,
        "CLAIMFLOW_DATABASE__URL": url,
        "CLAIMFLOW_HANDLERS__HEALTH_PORT": "0",
        "CLAIMFLOW_HANDLERS__DOCUMENT_STORE": str(documents),
        "CLAIMFLOW_HANDLERS__BACKOFF_MAX_SECONDS": "0.5",
        "CLAIMFLOW_AVAILITY__BASE_URL": f"{availity_sandbox.url}/availity",
        "CLAIMFLOW_AVAILITY__TOKEN_URL": f"{availity_sandbox.url}/v1/token",
        "CLAIMFLOW_AVAILITY__CLIENT_ID": CLIENT_ID,
        "CLAIMFLOW_AVAILITY__CLIENT_SECRET": AVAILITY_SECRET,
        "CLAIMFLOW_AVAILITY__SUBMITTER_ID": "477823",
        "CLAIMFLOW_AVAILITY__SUBMITTER_STATE": "TX",
        "CLAIMFLOW_AVAILITY__POLL_INTERVAL_SECONDS": "0.05",
        # A killed poller's lease runs out quickly, so the restarted one resumes its row.
        "CLAIMFLOW_FOLLOWUPS__LEASE_SECONDS": "2",
        "CLAIMFLOW_FOLLOWUPS__TICK_SECONDS": "0.2",
        "CLAIMFLOW_LOGGING__FORMAT": "json",
    }
    log = tmp_path / "handler.log"
    await kafka.send_command(topics.attachment_requests, command)

    first = _start(env, log)
    try:
        await eventually(lambda: _row_state(database, acn) == "sending", within=90)
        if filed:
            await eventually(lambda: _has_submission(availity_sandbox, acn), within=10)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert _row_state(database, acn) == "sending"

    second = _start(env, log)
    try:
        [result, *copies] = await kafka.wait_for(
            topics.attachment_results, AttachmentResult, within=90
        )
        # The command may be re-delivered too (killed before its offset was committed): its
        # stored result is then published again, as a copy with the same message id.
        assert all(copy == result for copy in copies)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()

    assert (result.outcome, result.status) == ("pending", "needs_review")
    assert _row_state(database, acn) == "needs_review"
    expected = {f"{acn}-1": 1, f"{acn}-2": 1} if filed else {}
    assert await availity_sandbox.submissions() == expected
    text = log.read_text()
    assert AVAILITY_SECRET not in text
    assert "Bixby" not in text


async def _has_submission(sandbox: Sandbox, acn: str) -> bool:
    return (await sandbox.submissions()).get(f"{acn}-1") == 1


async def test_sigterm_during_a_post_lets_it_finish_within_the_grace_period_and_never_resends(
    kafka: Kafka,
    topics: TopicSet,
    availity_sandbox: Sandbox,
    documents: Path,
    tmp_path: Path,
) -> None:
    database = tmp_path / "followups.db"
    url = f"sqlite+aiosqlite:///{database}"
    await prepare_database(url)
    command = attachment()
    put_documents(documents, command.claim.submission_number, list(command.loinc_codes))
    acn = attachment_control_number(command)
    # Availity files the attachment, then takes its time to answer the POST.
    await availity_sandbox.fault(
        kind="slow", delay_seconds=4.0, after_processing=True, endpoint="attachment.submit"
    )
    env = {
        **os.environ,
        "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap,
        "CLAIMFLOW_KAFKA__TOPIC_PREFIX": topics.prefix,
        "CLAIMFLOW_DATABASE__URL": url,
        "CLAIMFLOW_HANDLERS__HEALTH_PORT": "0",
        "CLAIMFLOW_HANDLERS__DOCUMENT_STORE": str(documents),
        "CLAIMFLOW_AVAILITY__BASE_URL": f"{availity_sandbox.url}/availity",
        "CLAIMFLOW_AVAILITY__TOKEN_URL": f"{availity_sandbox.url}/v1/token",
        "CLAIMFLOW_AVAILITY__CLIENT_ID": CLIENT_ID,
        "CLAIMFLOW_AVAILITY__CLIENT_SECRET": AVAILITY_SECRET,
        "CLAIMFLOW_AVAILITY__SUBMITTER_ID": "477823",
        "CLAIMFLOW_AVAILITY__SUBMITTER_STATE": "TX",
        "CLAIMFLOW_AVAILITY__POLL_INTERVAL_SECONDS": "0.05",
        "CLAIMFLOW_FOLLOWUPS__LEASE_SECONDS": "2",
        "CLAIMFLOW_FOLLOWUPS__TICK_SECONDS": "0.2",
        "CLAIMFLOW_LOGGING__FORMAT": "json",
    }
    log = tmp_path / "handler.log"
    await kafka.send_command(topics.attachment_requests, command)

    first = _start(env, log)
    try:
        await eventually(lambda: _row_state(database, acn) == "sending", within=90)
        first.send_signal(signal.SIGTERM)
        # k8s/base/attachment.yaml: terminationGracePeriodSeconds is 30.
        assert first.wait(timeout=30) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    # The POST in flight finished and was recorded (and perhaps already polled to the end).
    assert _row_state(database, acn) in ("sent", "accepted")

    second = _start(env, log)
    try:
        [result, *copies] = await kafka.wait_for(
            topics.attachment_results, AttachmentResult, within=90
        )
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()

    assert all(copy == result for copy in copies)
    assert result.outcome == "accepted"
    assert await availity_sandbox.submissions() == {f"{acn}-1": 1, f"{acn}-2": 1}
