"""The attachment handler against the Availity sandbox over real HTTP and the real broker."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from followup_support import (
    AVAILITY_SECRET,
    PHI_VALUES,
    Kafka,
    Sandbox,
    ViolationsOnce,
    attachment,
    availity_settings,
    claim,
    make_settings,
    prepare_database,
    put_documents,
)
from structlog.testing import capture_logs

from handlers.followups.attachment import build_attachment_handler
from handlers.followups.attachment.submission import attachment_control_number
from handlers.runtime import RunningHandler, running_handler
from router.followups import AttachmentRequest, AttachmentResult
from router.topics import HEADERS, TopicSet

pytestmark = [pytest.mark.kafka]

CODES = ["11506-3", "34117-2"]


@asynccontextmanager
async def attachments(
    kafka: Kafka, topics: TopicSet, url: str, sandbox: Sandbox, documents: Path, **availity: Any
) -> AsyncIterator[RunningHandler]:
    await prepare_database(url)
    settings = make_settings(
        bootstrap=kafka.bootstrap,
        topics=topics,
        database_url=url,
        documents=documents,
        availity=availity_settings(sandbox.url, **availity),
        max_document_bytes=1024,
    )
    async with running_handler(settings, build_attachment_handler) as running:
        yield running


async def send(
    kafka: Kafka, topics: TopicSet, command: AttachmentRequest, *, count: int = 1
) -> AttachmentResult:
    await kafka.send_command(topics.attachment_requests, command)
    results = await kafka.wait_for(topics.attachment_results, AttachmentResult, count=count)
    return results[-1]


def each_attachment(acn: str, count: int = len(CODES)) -> dict[str, int]:
    """One submission per attachment, each under its own Attachment Control Number."""
    return {f"{acn}-{position}": 1 for position in range(1, count + 1)}


def documented(documents: Path, **overrides: Any) -> AttachmentRequest:
    command = attachment(**overrides)
    put_documents(documents, command.claim.submission_number, list(command.loinc_codes))
    return command


async def test_an_attachment_is_sent_once_and_its_acceptance_published(
    kafka: Kafka,
    topics: TopicSet,
    sqlite_url: str,
    availity_sandbox: Sandbox,
    documents: Path,
) -> None:
    command = documented(documents)
    acn = attachment_control_number(command)
    async with attachments(kafka, topics, sqlite_url, availity_sandbox, documents):
        result = await send(kafka, topics, command)

    assert result.outcome == "accepted"
    assert result.status == "ACCEPTED", "SUBMITTED, the answer right after the POST, is not final"
    assert result.attachment_control_number == acn
    assert result.availity_request_id is not None
    assert await availity_sandbox.submissions() == each_attachment(acn)


async def test_a_duplicated_command_is_never_sent_twice(
    kafka: Kafka,
    topics: TopicSet,
    sqlite_url: str,
    availity_sandbox: Sandbox,
    documents: Path,
) -> None:
    command = documented(documents)
    async with attachments(kafka, topics, sqlite_url, availity_sandbox, documents):
        first = await send(kafka, topics, command)
        await send(kafka, topics, command, count=2)

    records = await kafka.read(topics.attachment_results)
    assert {r.value for r in records} == {first.model_dump_json(by_alias=True).encode()}
    assert len({dict(r.headers)[HEADERS.MESSAGE_ID] for r in records}) == 1
    assert await availity_sandbox.submissions() == each_attachment(first.attachment_control_number)


async def test_solicited_attachments_carry_the_payers_number_and_are_keyed_by_our_own(
    kafka: Kafka,
    topics: TopicSet,
    sqlite_url: str,
    availity_sandbox: Sandbox,
    documents: Path,
) -> None:
    the_claim = claim()
    first = documented(
        documents, the_claim=the_claim, solicited=True, payer_request_number="RFAI-0042"
    )
    second = documented(
        documents,
        the_claim=the_claim,
        solicited=True,
        payer_request_number="RFAI-0042",
        loinc_codes=["18842-5"],
    )
    async with attachments(kafka, topics, sqlite_url, availity_sandbox, documents):
        await send(kafka, topics, first)
        await send(kafka, topics, second, count=2)
        await send(kafka, topics, first, count=3)

    results = await kafka.models(topics.attachment_results, AttachmentResult)
    assert {r.outcome for r in results} == {"accepted"}
    assert len({r.attachment_control_number for r in results}) == 2
    assert await availity_sandbox.submissions() == {"RFAI-0042": 3}, "2 + 1 attachments"


async def test_a_solicited_command_without_the_payers_number_fails_unsent(
    kafka: Kafka,
    topics: TopicSet,
    sqlite_url: str,
    availity_sandbox: Sandbox,
    documents: Path,
) -> None:
    command = documented(documents, solicited=True)
    async with attachments(kafka, topics, sqlite_url, availity_sandbox, documents):
        result = await send(kafka, topics, command)

    assert result.outcome == "failed"
    assert await availity_sandbox.submissions() == {}


@pytest.mark.parametrize(
    ("arrange", "violation"),
    [
        ("missing", "documents: no documents for LOINC 34117-2"),
        ("too large", "documents: a LOINC 34117-2 document is 2000 bytes, over the 1024 limit"),
        (
            "wrong type",
            "documents: a LOINC 34117-2 document has a type that is not allowed (.docx)",
        ),
    ],
)
async def test_documents_that_cannot_be_sent_fail_the_command_without_retries(
    arrange: str,
    violation: str,
    kafka: Kafka,
    topics: TopicSet,
    sqlite_url: str,
    availity_sandbox: Sandbox,
    documents: Path,
) -> None:
    command = attachment()
    number = command.claim.submission_number
    put_documents(documents, number, ["11506-3"])
    other = documents / number / "34117-2"
    if arrange == "too large":
        other.mkdir()
        (other / "scan.pdf").write_bytes(b"%" * 2000)
    elif arrange == "wrong type":
        other.mkdir()
        (other / "notes.docx").write_bytes(b"PK")
    async with attachments(kafka, topics, sqlite_url, availity_sandbox, documents):
        result = await send(kafka, topics, command)

    assert result.outcome == "failed"
    assert result.violations == [violation]
    assert await availity_sandbox.submissions() == {}
    assert await kafka.read(topics.handler_dead_letter("attachment")) == []


async def test_a_submission_that_fails_local_validation_is_never_sent(
    kafka: Kafka,
    topics: TopicSet,
    sqlite_url: str,
    availity_sandbox: Sandbox,
    documents: Path,
) -> None:
    command = documented(documents, the_claim=claim(payer_id=None))
    async with attachments(kafka, topics, sqlite_url, availity_sandbox, documents):
        result = await send(kafka, topics, command)

    assert result.outcome == "failed"
    assert any(v.startswith("payer.id") for v in result.violations)
    assert await availity_sandbox.responses("attachment.submit") == {}


async def test_parameter_violations_reject_the_attachment_without_a_retry(
    kafka: Kafka,
    topics: TopicSet,
    sqlite_url: str,
    availity_sandbox: Sandbox,
    violations: ViolationsOnce,
    documents: Path,
) -> None:
    violations.armed = 1
    command = documented(documents)
    async with attachments(kafka, topics, sqlite_url, availity_sandbox, documents):
        result = await send(kafka, topics, command)
        again = await send(kafka, topics, command, count=2)

    assert result.outcome == "rejected"
    assert result.violations == [
        "sendResponseExt.arg0.patient.lastName: Patient Last Name is required."
    ]
    assert again == result
    assert violations.armed == 0
    assert await availity_sandbox.submissions() == {}
    assert await kafka.read(topics.handler_dead_letter("attachment")) == []


FAILURES: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = {
    "stale token (401)": ({"kind": "stale_token", "endpoint": "attachment.submit"}, {}),
    "429 twice": (
        {"kind": "error", "status": 429, "count": 2, "endpoint": "attachment.submit"},
        {},
    ),
    "503 twice": (
        {"kind": "error", "status": 503, "count": 2, "endpoint": "attachment.submit"},
        {},
    ),
    "5xx on status": (
        {"kind": "error", "status": 500, "count": 3, "endpoint": "attachment.status"},
        {},
    ),
    "slow answer": ({"kind": "slow", "delay_seconds": 1.0, "endpoint": "attachment.submit"}, {}),
    "statuses not final yet": (None, {"status_sequence": ["SUBMITTED"] * 5 + ["ACCEPTED"]}),
    "tokens that expire": (
        None,
        {"status_sequence": ["SUBMITTED"] * 8 + ["ACCEPTED"], "token_lifetime_seconds": 0.3},
    ),
    "token endpoint slow": ({"kind": "slow", "delay_seconds": 1.0, "endpoint": "token"}, {}),
    "token endpoint down": ({"kind": "error", "status": 503, "count": 2, "endpoint": "token"}, {}),
}


@pytest.mark.parametrize("failure", list(FAILURES))
async def test_a_failing_partner_still_gets_exactly_one_submission(
    failure: str,
    kafka: Kafka,
    topics: TopicSet,
    sqlite_url: str,
    availity_sandbox: Sandbox,
    documents: Path,
) -> None:
    fault, knobs = FAILURES[failure]
    if knobs:
        await availity_sandbox.configure(**knobs)
    if fault is not None:
        await availity_sandbox.fault(**fault)
    command = documented(documents)
    async with attachments(
        kafka,
        topics,
        sqlite_url,
        availity_sandbox,
        documents,
        token_refresh_skew_seconds=0,
        poll_interval_seconds=0.1,
        poll_max_interval_seconds=0.1,
    ):
        result = await send(kafka, topics, command)

    assert result.outcome == "accepted"
    assert await availity_sandbox.submissions() == each_attachment(result.attachment_control_number)
    if failure in ("stale token (401)", "tokens that expire"):
        assert len(availity_sandbox.tokens_issued()) >= 2


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "error", "status": 500, "after_processing": True},
        {"kind": "slow", "delay_seconds": 1.5, "after_processing": True},
    ],
    ids=["5xx after filing", "answer slower than the timeout"],
)
async def test_an_unconfirmed_submission_is_parked_for_review_not_sent_again(
    fault: dict[str, Any],
    kafka: Kafka,
    topics: TopicSet,
    sqlite_url: str,
    availity_sandbox: Sandbox,
    documents: Path,
) -> None:
    await availity_sandbox.fault(endpoint="attachment.submit", **fault)
    command = documented(documents)
    acn = attachment_control_number(command)
    async with attachments(
        kafka, topics, sqlite_url, availity_sandbox, documents, timeout_seconds=0.5
    ):
        result = await send(kafka, topics, command)
        again = await send(kafka, topics, command, count=2)

    assert (result.outcome, result.status) == ("pending", "needs_review")
    assert again == result
    submissions = await availity_sandbox.submissions()
    assert submissions == each_attachment(acn)


async def test_a_status_still_pending_at_the_deadline_is_polled_again_not_resent(
    kafka: Kafka,
    topics: TopicSet,
    sqlite_url: str,
    availity_sandbox: Sandbox,
    documents: Path,
) -> None:
    await availity_sandbox.configure(status_sequence=["SUBMITTED"])
    command = documented(documents)
    async with attachments(
        kafka, topics, sqlite_url, availity_sandbox, documents, poll_deadline_seconds=0.3
    ):
        pending = await send(kafka, topics, command)
        await availity_sandbox.configure(status_sequence=["REJECTED"])
        final = await send(kafka, topics, command, count=2)

    assert (pending.outcome, pending.status) == ("pending", "SUBMITTED")
    assert (final.outcome, final.status) == ("rejected", "REJECTED")
    assert final.availity_request_id == pending.availity_request_id
    assert await availity_sandbox.submissions() == each_attachment(
        pending.attachment_control_number
    )


async def test_logs_carry_neither_phi_nor_file_names_nor_secrets(
    kafka: Kafka,
    topics: TopicSet,
    sqlite_url: str,
    availity_sandbox: Sandbox,
    documents: Path,
) -> None:
    await availity_sandbox.fault(kind="stale_token", endpoint="attachment.submit")
    command = documented(documents)
    with capture_logs() as logs:
        async with attachments(kafka, topics, sqlite_url, availity_sandbox, documents):
            result = await send(kafka, topics, command)

    text = repr(logs) + result.model_dump_json()
    forbidden = (*PHI_VALUES, AVAILITY_SECRET, "11506-3.pdf", *availity_sandbox.tokens_issued())
    for value in forbidden:
        assert value not in text
    assert base64.b64encode(b"%PDF").decode()[:4] not in text
    assert any(e.get("acn") == result.attachment_control_number for e in logs)
