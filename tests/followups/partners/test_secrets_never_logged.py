"""Client secrets and access tokens never reach logs, errors or metrics -- nor does PHI.

Both clients are driven through their success and failure paths (token refresh, refused
credentials, 429, 5xx, timeouts, open circuit, parameterViolations, unconfirmed submissions)
while structlog's output is captured and stdlib logging is recorded at DEBUG (httpx, httpcore,
uvicorn). Every captured line, every exception (message, repr, chained traceback) and the
Prometheus exposition are then searched for every secret and every token the sandboxes issued.
"""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import structlog
from partner_support import (
    AVAILITY_SECRET,
    CLIENT_ID,
    INTEGREX_SECRET,
    RunningSandbox,
    availity_settings_for,
    integrex_settings_for,
    reference_request,
    sample_submission,
)
from prometheus_client import generate_latest
from pydantic import SecretStr

from handlers.followups.partners.availity import AvailityClient
from handlers.followups.partners.availity_submission import Payer
from handlers.followups.partners.errors import PartnerError
from handlers.followups.partners.integrex import IntegrexClient
from handlers.followups.partners.metrics import PartnerMetrics

WRONG_SECRET = "wrong-secret-Zm9vYmFyYmF6"
PHI = ("Ochoa", "Blanca", "524845471", "NXGMDX-1236885", "2004-11-03", "A000000000", "1970-01-02")


async def _integrex_paths(sandbox: RunningSandbox, metrics: PartnerMetrics) -> list[BaseException]:
    errors: list[BaseException] = []
    settings = integrex_settings_for(
        sandbox.url, timeout_seconds=0.5, retry_max_attempts=2, circuit_failure_threshold=100
    )
    async with IntegrexClient(settings=settings, metrics=metrics) as client:
        await client.health_check()
        await client.check_claim_status(reference_request())
        await sandbox.fault(kind="stale_token", endpoint="claim_info.submit")
        await client.submit_claim_status(reference_request())
        for fault in (
            {"kind": "stale_token", "count": 2},
            {"kind": "error", "status": 429, "count": 2},
            {"kind": "error", "status": 500, "count": 2},
            {"kind": "error", "status": 400},
            {"kind": "slow", "delay_seconds": 1.5, "count": 2},
        ):
            await sandbox.fault(endpoint="claim_info.submit", **fault)
            errors.append(await _failure(client.submit_claim_status(reference_request())))
        errors.append(await _failure(client.fetch_claim_info("unknown")))
    wrong = integrex_settings_for(sandbox.url, client_secret=SecretStr(WRONG_SECRET))
    async with IntegrexClient(settings=wrong, metrics=metrics) as client:
        errors.append(await _failure(client.submit_claim_status(reference_request())))
    down = integrex_settings_for(
        sandbox.url,
        retry_max_attempts=1,
        circuit_failure_threshold=1,
        base_url="http://127.0.0.1:9",
    )
    async with IntegrexClient(settings=down, metrics=metrics) as client:
        errors.append(await _failure(client.submit_claim_status(reference_request())))
        errors.append(await _failure(client.submit_claim_status(reference_request())))
    return errors


async def _availity_paths(sandbox: RunningSandbox, metrics: PartnerMetrics) -> list[BaseException]:
    errors: list[BaseException] = []
    settings = availity_settings_for(sandbox.url, timeout_seconds=0.5, retry_max_attempts=2)
    async with AvailityClient(settings=settings, metrics=metrics) as client:
        request_id = await client.submit_attachment(sample_submission("RN-1"))
        await client.wait_for_final_status(request_id)
        await sandbox.fault(kind="stale_token", endpoint="attachment.status")
        await client.attachment_status(request_id)
        drifted = sample_submission().model_copy(
            update={"payer": Payer.model_construct(id="Ochoa" * 8)}
        )
        errors.append(await _failure(client.submit_attachment(drifted)))
        for fault in (
            {"kind": "error", "status": 429, "count": 2},
            {"kind": "error", "status": 500, "after_processing": True},
            {"kind": "slow", "delay_seconds": 1.5, "after_processing": True},
            {"kind": "stale_token", "count": 2},
        ):
            await sandbox.fault(endpoint="attachment.submit", **fault)
            errors.append(await _failure(client.submit_attachment(sample_submission("RN-2"))))
        errors.append(await _failure(client.wait_for_final_status(999, deadline_seconds=0.01)))
    wrong = availity_settings_for(sandbox.url, client_secret=SecretStr(WRONG_SECRET))
    async with AvailityClient(settings=wrong, metrics=metrics) as client:
        errors.append(await _failure(client.submit_attachment(sample_submission())))
    return errors


async def _failure(call: Awaitable[Any]) -> BaseException:
    with pytest.raises(PartnerError) as caught:
        await call
    return caught.value


def _secrets(*sandboxes: RunningSandbox) -> list[str]:
    found = [INTEGREX_SECRET, AVAILITY_SECRET, WRONG_SECRET]
    for secret in (INTEGREX_SECRET, AVAILITY_SECRET, WRONG_SECRET):
        found.append(base64.b64encode(f"{CLIENT_ID}:{secret}".encode()).decode())
    for sandbox in sandboxes:
        found.extend(sandbox.state.tokens.issued_values)
    return found


def _exception_texts(errors: list[BaseException]) -> list[str]:
    texts = []
    for error in errors:
        texts += [str(error), repr(error), *traceback.format_exception(error)]
        for violation in getattr(error, "violations", ()):
            texts.append(repr(violation))
    return texts


def _record_texts(records: list[logging.LogRecord]) -> list[str]:
    return [
        f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''} {r.__dict__!r}" for r in records
    ]


async def test_secrets_tokens_and_phi_never_reach_logs_errors_or_metrics(
    integrex_sandbox: RunningSandbox,
    availity_sandbox: RunningSandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    metrics = PartnerMetrics()
    run: list[Callable[[], Awaitable[list[BaseException]]]] = [
        lambda: _integrex_paths(integrex_sandbox, metrics),
        lambda: _availity_paths(availity_sandbox, metrics),
    ]
    errors: list[BaseException] = []
    with structlog.testing.capture_logs() as events:
        for paths in run:
            errors += await paths()

    tokens_issued = integrex_sandbox.state.tokens.issued + availity_sandbox.state.tokens.issued
    assert tokens_issued >= 5, "the paths must have fetched and refreshed tokens"
    assert {e["event"] for e in events} >= {"partner.token_fetched", "partner.retry"}
    assert any(r.name.startswith(("httpx", "httpcore")) for r in caplog.records)
    assert len(errors) == 16

    haystacks = {
        "structlog": [repr(event) for event in events],
        "logging": _record_texts(caplog.records),
        "exceptions": _exception_texts(errors),
        "metrics": [generate_latest(metrics.registry).decode()],
    }
    for where, texts in haystacks.items():
        joined = "\n".join(texts)
        for secret in _secrets(integrex_sandbox, availity_sandbox):
            assert secret not in joined, f"a secret or token appeared in {where}"
        if where != "metrics":
            for value in PHI:
                assert value not in joined, f"PHI appeared in {where}"


def test_settings_and_clients_do_not_show_secrets_in_repr(
    integrex_sandbox: RunningSandbox, availity_sandbox: RunningSandbox
) -> None:
    integrex = integrex_settings_for(integrex_sandbox.url)
    availity = availity_settings_for(availity_sandbox.url)
    assert INTEGREX_SECRET not in repr(integrex)
    assert AVAILITY_SECRET not in repr(availity)
    assert INTEGREX_SECRET not in repr(IntegrexClient(settings=integrex).__dict__)
    assert AVAILITY_SECRET not in repr(AvailityClient(settings=availity).__dict__)
