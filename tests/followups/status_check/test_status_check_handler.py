"""The status-check handler against the Integrex sandbox over real HTTP and the real broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from followup_support import (
    INTEGREX_SECRET,
    PHI_VALUES,
    Kafka,
    Sandbox,
    claim,
    integrex_settings,
    make_settings,
    prepare_database,
    status_check,
)
from pydantic import SecretStr
from structlog.testing import capture_logs

from claimflow.settings import DatabaseSettings
from handlers.followups.partners.integrex import IntegrexClient
from handlers.followups.status_check import build_status_check_handler
from handlers.followups.status_check.inquiry import inquiry_for
from handlers.followups.status_check.store import StatusCheckStore
from handlers.ledger.database import create_engine
from handlers.runtime import RunningHandler, running_handler
from router.followups import (
    StatusCheckRequest,
    StatusCheckResult,
)
from router.topics import HEADERS, TopicSet

pytestmark = [pytest.mark.kafka]


@asynccontextmanager
async def status_checks(
    kafka: Kafka, topics: TopicSet, url: str, sandbox: Sandbox, tmp_path: Path, **integrex: Any
) -> AsyncIterator[RunningHandler]:
    await prepare_database(url)
    settings = make_settings(
        bootstrap=kafka.bootstrap,
        topics=topics,
        database_url=url,
        documents=tmp_path,
        integrex=integrex_settings(sandbox.url, **integrex),
    )
    async with running_handler(settings, build_status_check_handler) as running:
        yield running


async def ask(kafka: Kafka, topics: TopicSet, command: StatusCheckRequest) -> StatusCheckResult:
    await kafka.send_command(topics.status_check_requests, command)
    results = await kafka.wait_for(topics.status_check_results, StatusCheckResult)
    return results[0]


async def test_a_status_check_is_asked_once_and_its_answer_published(
    kafka: Kafka, topics: TopicSet, sqlite_url: str, integrex_sandbox: Sandbox, tmp_path: Path
) -> None:
    await integrex_sandbox.configure(category_code="F1", status_code="65")
    command = status_check()
    async with status_checks(kafka, topics, sqlite_url, integrex_sandbox, tmp_path):
        result = await ask(kafka, topics, command)

    assert result.command_id == command.command_id
    assert result.outcome == "answered"
    assert (result.category_code, result.status_code) == ("F1", "65")
    assert result.category_meaning == "Finalized/Payment"
    assert result.integrex_request_id is not None
    assert result.needs_documents is False
    number = command.claim.submission_number
    assert await integrex_sandbox.submissions() == {number: 1}
    [inquiry] = [i.body for i in integrex_sandbox.state.inquiries.values()]
    assert inquiry == {
        "patientDob": "1008-01-02",
        "patientFirstName": "Timothy",
        "patientLastName": "Bixby",
        "subscriberId": "XJQ901233",
        "subscriberFirstName": "Timothy",
        "subscriberLastName": "Bixby",
        "billingProviderNpi": "1083052872",
        "billingProviderName": "Sutter Medical Center",
        "taxId": "999887777",
        "admitDate": "2024-03-01",
        "totalCharges": "1200.00",
        "payerId": "AETNA",
        "payerName": "Aetna",
        "trackingId1": number,
        "trackingId2": "TRACE-1",
    }
    assert integrex_sandbox.state.env_headers == ["T"]


async def test_a_request_for_documentation_is_reported_and_the_handler_decides_nothing(
    kafka: Kafka, topics: TopicSet, sqlite_url: str, integrex_sandbox: Sandbox, tmp_path: Path
) -> None:
    """The payer's R4 is reported on the result; the attachment is the ledger's rules' call."""
    await integrex_sandbox.configure(category_code="R4", status_code="21")
    command = status_check()
    async with status_checks(kafka, topics, sqlite_url, integrex_sandbox, tmp_path):
        result = await ask(kafka, topics, command)

    assert result.needs_documents is True
    assert (result.category_code, result.status_code) == ("R4", "21")
    # No second origin: the status-check handler publishes no attachment command of its own.
    assert await kafka.read(topics.attachment_requests) == []


async def test_a_redelivered_command_republishes_the_same_result_without_asking_again(
    kafka: Kafka, topics: TopicSet, sqlite_url: str, integrex_sandbox: Sandbox, tmp_path: Path
) -> None:
    command = status_check()
    async with status_checks(kafka, topics, sqlite_url, integrex_sandbox, tmp_path):
        await ask(kafka, topics, command)
        await kafka.send_command(topics.status_check_requests, command)
        await kafka.wait_for(topics.status_check_results, StatusCheckResult, count=2)

    records = await kafka.read(topics.status_check_results)
    assert len({r.value for r in records}) == 1
    assert len({dict(r.headers)[HEADERS.MESSAGE_ID] for r in records}) == 1
    assert await integrex_sandbox.submissions() == {command.claim.submission_number: 1}
    assert result_outcome(records) == "not_found"


def result_outcome(records: list[Any]) -> str:
    return StatusCheckResult.model_validate_json(records[0].value).outcome


async def test_a_restarted_handler_resumes_polling_by_the_recorded_id(
    kafka: Kafka, topics: TopicSet, sqlite_url: str, integrex_sandbox: Sandbox, tmp_path: Path
) -> None:
    command = status_check()
    await prepare_database(sqlite_url)
    # The state a handler killed right after recording Integrex's id leaves behind.
    engine = create_engine(DatabaseSettings(url=SecretStr(sqlite_url)))
    try:
        store = StatusCheckStore(engine)
        await store.begin(command)
        [lease] = await store.claim_due(lane="production", limit=1, lease_seconds=0)
        async with IntegrexClient(settings=integrex_settings(integrex_sandbox.url)) as client:
            request_id = await client.submit_claim_status(inquiry_for(command))
        await store.submitted(lease, request_id, poll_after=0)
    finally:
        await engine.dispose()

    async with status_checks(kafka, topics, sqlite_url, integrex_sandbox, tmp_path):
        result = await ask(kafka, topics, command)

    assert result.integrex_request_id == request_id
    assert await integrex_sandbox.submissions() == {command.claim.submission_number: 1}


async def test_an_id_integrex_no_longer_knows_is_asked_about_again(
    kafka: Kafka, topics: TopicSet, sqlite_url: str, integrex_sandbox: Sandbox, tmp_path: Path
) -> None:
    command = status_check()
    await prepare_database(sqlite_url)
    engine = create_engine(DatabaseSettings(url=SecretStr(sqlite_url)))
    try:
        store = StatusCheckStore(engine)
        await store.begin(command)
        [lease] = await store.claim_due(lane="production", limit=1, lease_seconds=0)
        await store.submitted(lease, "an-expired-id", poll_after=0)
    finally:
        await engine.dispose()

    async with status_checks(kafka, topics, sqlite_url, integrex_sandbox, tmp_path):
        result = await ask(kafka, topics, command)

    assert result.integrex_request_id not in (None, "an-expired-id")
    assert (await integrex_sandbox.responses("claim_info.fetch")).get("404") == 1
    assert await integrex_sandbox.submissions() == {command.claim.submission_number: 1}


FAILURES: dict[str, tuple[dict[str, Any] | None, dict[str, Any]]] = {
    "stale token (401)": ({"kind": "stale_token", "endpoint": "claim_info.fetch"}, {}),
    "429 twice": ({"kind": "error", "status": 429, "count": 2, "endpoint": "any"}, {}),
    "5xx on submit": ({"kind": "error", "status": 502, "count": 2}, {}),
    "5xx on poll": (
        {"kind": "error", "status": 500, "count": 3, "endpoint": "claim_info.fetch"},
        {},
    ),
    "slow answer": ({"kind": "slow", "delay_seconds": 1.0, "endpoint": "claim_info.submit"}, {}),
    "pending results": (None, {"pending_polls": 6}),
    "tokens that expire": (None, {"pending_polls": 8, "token_lifetime_seconds": 0.3}),
}


@pytest.mark.parametrize("failure", list(FAILURES))
async def test_a_failing_partner_still_yields_one_inquiry_and_an_answer(
    failure: str,
    kafka: Kafka,
    topics: TopicSet,
    sqlite_url: str,
    integrex_sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    fault, knobs = FAILURES[failure]
    await integrex_sandbox.configure(category_code="P1", status_code="20", **knobs)
    if fault is not None:
        await integrex_sandbox.fault(**fault)
    command = status_check()
    async with status_checks(
        kafka,
        topics,
        sqlite_url,
        integrex_sandbox,
        tmp_path,
        token_refresh_skew_seconds=0,
        poll_interval_seconds=0.1,
        poll_max_interval_seconds=0.1,
    ):
        result = await ask(kafka, topics, command)

    assert result.outcome == "answered"
    assert result.category_code == "P1"
    assert await integrex_sandbox.submissions() == {command.claim.submission_number: 1}
    if failure in ("stale token (401)", "tokens that expire"):
        assert len(integrex_sandbox.tokens_issued()) >= 2


async def test_a_partner_down_for_a_while_is_retried_by_the_timer_within_its_budget(
    kafka: Kafka, topics: TopicSet, sqlite_url: str, integrex_sandbox: Sandbox, tmp_path: Path
) -> None:
    await integrex_sandbox.fault(kind="error", status=503, count=7, endpoint="claim_info.submit")
    command = status_check()
    async with status_checks(
        kafka,
        topics,
        sqlite_url,
        integrex_sandbox,
        tmp_path,
        retry_max_attempts=3,
        circuit_failure_threshold=100,
    ):
        result = await ask(kafka, topics, command)

    assert result.outcome == "not_found"
    assert (await integrex_sandbox.responses("claim_info.submit"))["503"] == 7
    assert await integrex_sandbox.submissions() == {command.claim.submission_number: 1}


async def test_an_answer_that_never_comes_is_published_as_timed_out(
    kafka: Kafka, topics: TopicSet, sqlite_url: str, integrex_sandbox: Sandbox, tmp_path: Path
) -> None:
    await integrex_sandbox.configure(pending_polls=100_000)
    command = status_check()
    async with status_checks(
        kafka, topics, sqlite_url, integrex_sandbox, tmp_path, poll_deadline_seconds=0.5
    ):
        result = await ask(kafka, topics, command)
        await kafka.send_command(topics.status_check_requests, command)
        await kafka.wait_for(topics.status_check_results, StatusCheckResult, count=2)

    assert result.outcome == "timed_out"
    assert result.integrex_request_id is not None
    assert await integrex_sandbox.submissions() == {command.claim.submission_number: 1}


async def test_an_inquiry_integrex_refuses_is_published_as_failed_and_not_retried(
    kafka: Kafka, topics: TopicSet, sqlite_url: str, integrex_sandbox: Sandbox, tmp_path: Path
) -> None:
    await integrex_sandbox.fault(kind="error", status=400, endpoint="claim_info.submit")
    async with status_checks(kafka, topics, sqlite_url, integrex_sandbox, tmp_path):
        result = await ask(kafka, topics, status_check())

    assert result.outcome == "failed"
    assert result.detail == "Integrex refused the inquiry (400)"
    assert await integrex_sandbox.responses("claim_info.submit") == {"400": 1}
    assert await kafka.read(topics.handler_dead_letter("status-check")) == []


async def test_a_claim_without_the_inquiry_fields_fails_without_calling_integrex(
    kafka: Kafka, topics: TopicSet, sqlite_url: str, integrex_sandbox: Sandbox, tmp_path: Path
) -> None:
    command = status_check(claim(patient_dob=None, billing_provider_npi=None))
    async with status_checks(kafka, topics, sqlite_url, integrex_sandbox, tmp_path):
        result = await ask(kafka, topics, command)

    assert result.outcome == "failed"
    assert result.detail is not None
    assert "billingProviderNpi" in result.detail or "billing_provider_npi" in result.detail
    assert await integrex_sandbox.responses("claim_info.submit") == {}


async def test_logs_carry_neither_phi_nor_secrets_nor_tokens(
    kafka: Kafka, topics: TopicSet, sqlite_url: str, integrex_sandbox: Sandbox, tmp_path: Path
) -> None:
    await integrex_sandbox.fault(kind="stale_token", endpoint="claim_info.fetch")
    await integrex_sandbox.fault(kind="error", status=500, endpoint="claim_info.fetch")
    command = status_check()
    with capture_logs() as logs:
        async with status_checks(kafka, topics, sqlite_url, integrex_sandbox, tmp_path):
            result = await ask(kafka, topics, command)

    text = repr(logs) + result.model_dump_json()
    for value in (*PHI_VALUES, INTEGREX_SECRET, *integrex_sandbox.tokens_issued()):
        assert value not in text
    assert any(e.get("command_id") == command.command_id for e in logs)


async def test_the_handler_process_serves_its_integrex_metrics_without_phi_or_secrets(
    kafka: Kafka, topics: TopicSet, sqlite_url: str, integrex_sandbox: Sandbox, tmp_path: Path
) -> None:
    await integrex_sandbox.configure(category_code="F1", status_code="65")
    async with status_checks(kafka, topics, sqlite_url, integrex_sandbox, tmp_path) as running:
        await ask(kafka, topics, status_check())
        base = f"http://127.0.0.1:{running.health.port}"
        async with httpx.AsyncClient(base_url=base) as client:
            metrics = (await client.get("/metrics")).text

    assert "claimflow_partner_requests_total{" in metrics
    assert 'partner="integrex"' in metrics
    assert "claimflow_partner_request_seconds_bucket{" in metrics
    assert 'claimflow_partner_token_fetches_total{partner="integrex"}' in metrics
    assert "claimflow_partner_circuit_rejections_total" in metrics
    assert "claimflow_handler_processed_total" in metrics
    assert INTEGREX_SECRET not in metrics
    for value in PHI_VALUES:
        assert value not in metrics


async def test_an_inquiry_sent_without_an_answer_is_reported_unknown_and_never_sent_again(
    kafka: Kafka, topics: TopicSet, sqlite_url: str, integrex_sandbox: Sandbox, tmp_path: Path
) -> None:
    # Integrex created (and billed) the inquiry, then answered after our timeout.
    await integrex_sandbox.fault(
        kind="slow", delay_seconds=2.0, after_processing=True, endpoint="claim_info.submit"
    )
    command = status_check()
    async with status_checks(
        kafka, topics, sqlite_url, integrex_sandbox, tmp_path, timeout_seconds=0.5
    ):
        result = await ask(kafka, topics, command)
        await kafka.send_command(topics.status_check_requests, command)
        await kafka.wait_for(topics.status_check_results, StatusCheckResult, count=2)

    assert result.outcome == "timed_out"
    assert result.detail is not None
    assert "did not confirm" in result.detail
    assert await integrex_sandbox.submissions() == {command.claim.submission_number: 1}


async def test_a_production_lane_handler_leaves_test_lane_inquiries_alone(
    kafka: Kafka, topics: TopicSet, sqlite_url: str, integrex_sandbox: Sandbox, tmp_path: Path
) -> None:
    await prepare_database(sqlite_url)
    engine = create_engine(DatabaseSettings(url=SecretStr(sqlite_url)))
    try:
        await StatusCheckStore(engine).begin(status_check(), lane="test")
    finally:
        await engine.dispose()
    command = status_check()
    async with status_checks(kafka, topics, sqlite_url, integrex_sandbox, tmp_path):
        await ask(kafka, topics, command)

    assert await integrex_sandbox.submissions() == {command.claim.submission_number: 1}
