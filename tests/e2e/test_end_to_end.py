"""End to end: the Redox sample posted to the receiver ends in a status check answered by the
Integrex sandbox and an attachment accepted by the Availity sandbox, with the partners failing in
each way they can.

One stack per module, every part its real process (``claimflow serve``, ``route``, ``handle
ledger|status-check|attachment``) on the session's broker with topics of their own; the two
partner sandboxes run in this process over real HTTP so that the tests can steer them and count
submissions. Each scenario posts a variant of the sample whose two claims have numbers of their
own (imported into the ledger first with ``claimflow claims import``). The sample pays 140.00 of
a 580.00 transaction, so the ledger asks for a status check of both claims; the Integrex sandbox
answers ``R4`` (documentation requested), so each answer asks for an attachment.
"""

from __future__ import annotations

import asyncio
import copy
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from followup_support import (
    AVAILITY_SECRET,
    CLIENT_ID,
    INTEGREX_SECRET,
    Kafka,
    Sandbox,
    ViolationsOnce,
    eventually,
    put_documents,
    serve,
)

from claimflow.devstack.kafka import KafkaBroker, free_port
from router.followups import AttachmentResult, StatusCheckResult
from router.topic_admin import ensure_topics
from router.topics import TopicSet
from sandboxes import availity as availity_app
from sandboxes import integrex as integrex_app
from sandboxes.redox_sender import RedoxSender

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

CLAIMFLOW = Path(sys.executable).with_name("claimflow")
TOKEN = "e2e-verification-token-UmVkb3hUb2tlbg"
CLAIM_NUMBERS = ("66729659983", "774466586")
ROLES = {
    "router": ["route"],
    "ledger": ["handle", "ledger"],
    "status-check": ["handle", "status-check"],
    "attachment": ["handle", "attachment"],
}


@dataclass
class Stack:
    env: dict[str, str]
    topics: TopicSet
    webhook_url: str
    integrex: Sandbox
    availity: Sandbox
    violations: ViolationsOnce
    documents: Path
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def run(self, *argv: str) -> str:
        done = subprocess.run(
            [str(CLAIMFLOW), *argv], env=self.env, capture_output=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return done.stdout.decode()

    def start(self, name: str, argv: list[str], **env: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        with log:
            self.processes[name] = subprocess.Popen(
                [str(CLAIMFLOW), *argv],
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def alive(self) -> None:
        for name, process in self.processes.items():
            assert process.poll() is None, f"{name} exited; see {self.logs / (name + '.log')}"


def _wait_ready(url: str, stack: Stack) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        stack.alive()
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never became ready")


@pytest.fixture(scope="module")
def stack(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("e2e")
    prefix = f"e2e{os.getpid()}{int(time.time()) % 100000}."
    asyncio.run(ensure_topics(kafka_broker.bootstrap_servers, prefix=prefix))
    violations = ViolationsOnce(
        availity_app.create_app(client_id=CLIENT_ID, client_secret=AVAILITY_SECRET)
    )
    integrex = integrex_app.create_app(client_id=CLIENT_ID, client_secret=INTEGREX_SECRET)
    documents = root / "documents"
    logs = root / "logs"
    logs.mkdir()
    receiver_port = free_port()
    with serve(integrex) as integrex_url, serve(violations) as availity_url:
        env = {
            **os.environ,
            "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
            "CLAIMFLOW_KAFKA__TOPIC_PREFIX": prefix,
            "CLAIMFLOW_DATABASE__URL": f"sqlite+aiosqlite:///{root / 'ledger.db'}",
            "CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN": TOKEN,
            "CLAIMFLOW_RECEIVER__PORT": str(receiver_port),
            "CLAIMFLOW_HANDLERS__LANE": "test",
            "CLAIMFLOW_HANDLERS__DOCUMENT_STORE": str(documents),
            "CLAIMFLOW_HANDLERS__BACKOFF_BASE_SECONDS": "0.05",
            "CLAIMFLOW_HANDLERS__BACKOFF_MAX_SECONDS": "0.5",
            "CLAIMFLOW_LOGGING__FORMAT": "json",
            "CLAIMFLOW_FOLLOWUPS__TICK_SECONDS": "0.2",
        }
        for partner, url, secret in (
            ("INTEGREX", integrex_url, INTEGREX_SECRET),
            ("AVAILITY", f"{availity_url}/availity", AVAILITY_SECRET),
        ):
            env[f"CLAIMFLOW_{partner}__BASE_URL"] = url
            env[f"CLAIMFLOW_{partner}__CLIENT_ID"] = CLIENT_ID
            env[f"CLAIMFLOW_{partner}__CLIENT_SECRET"] = secret
            env[f"CLAIMFLOW_{partner}__BACKOFF_BASE_SECONDS"] = "0.01"
            env[f"CLAIMFLOW_{partner}__BACKOFF_MAX_SECONDS"] = "0.1"
            env[f"CLAIMFLOW_{partner}__POLL_INTERVAL_SECONDS"] = "0.1"
            env[f"CLAIMFLOW_{partner}__POLL_MAX_INTERVAL_SECONDS"] = "0.2"
            env[f"CLAIMFLOW_{partner}__TOKEN_REFRESH_SKEW_SECONDS"] = "0"
            env[f"CLAIMFLOW_{partner}__REQUESTS_PER_SECOND"] = "100"
        env["CLAIMFLOW_AVAILITY__TOKEN_URL"] = f"{availity_url}/v1/token"
        env["CLAIMFLOW_AVAILITY__SUBMITTER_ID"] = "477823"
        env["CLAIMFLOW_AVAILITY__SUBMITTER_STATE"] = "TX"
        env["CLAIMFLOW_AVAILITY__TIMEOUT_SECONDS"] = "5"
        the_stack = Stack(
            env=env,
            topics=TopicSet(prefix=prefix, lane="test"),
            webhook_url=f"http://127.0.0.1:{receiver_port}/webhooks/redox",
            integrex=Sandbox(url=integrex_url, app=integrex),
            availity=Sandbox(url=availity_url, app=violations.app),  # type: ignore[arg-type]
            violations=violations,
            documents=documents,
            logs=logs,
        )
        try:
            the_stack.run("db", "upgrade")
            for name, argv in ROLES.items():
                port = free_port()
                the_stack.start(name, argv, CLAIMFLOW_HANDLERS__HEALTH_PORT=str(port))
                _wait_ready(f"http://127.0.0.1:{port}/healthz", the_stack)
            the_stack.start("receiver", ["serve"])
            _wait_ready(f"http://127.0.0.1:{receiver_port}/readyz", the_stack)
            yield the_stack
        finally:
            the_stack.stop()


def _variant(sample: dict[str, Any], tag: str) -> dict[str, Any]:
    """The sample with claim and control numbers of this scenario's own."""
    payload = copy.deepcopy(sample)
    for transaction in payload["Transactions"]:
        for payment in transaction["Payments"]:
            for claim in payment["Claims"]:
                claim["SubmissionNumber"] = f"{tag}{claim['SubmissionNumber']}"
                claim["ControlNumber"] = f"{tag}{claim['ControlNumber']}"
    return payload


def _claims_csv(tag: str) -> str:
    header = (
        "claim_number,charged_amount,payer_id,payer_name,provider_npi,provider_tax_id,"
        "provider_name,patient_first_name,patient_last_name,patient_dob,member_id,"
        "patient_account_number,service_start,service_end,submitted_on"
    )
    rows = [
        f"{tag}{number},100.00,REDOX1,National Insurance Company of Redox,1083052872,999887777,"
        f"Redox Health System,Timothy,Bixby,2008-01-06,MEM{number},ACCT-{number},"
        "2016-10-01,2016-10-01,2016-10-31"
        for number in CLAIM_NUMBERS
    ]
    return "\n".join([header, *rows]) + "\n"


SCENARIOS: dict[str, dict[str, Any]] = {
    "partners answer at once": {},
    "tokens that expire": {
        "integrex_config": {"token_lifetime_seconds": 0.3, "pending_polls": 6},
        "availity_config": {
            "token_lifetime_seconds": 0.3,
            "status_sequence": ["SUBMITTED"] * 6 + ["ACCEPTED"],
        },
    },
    "401 on a stale token": {
        "integrex_faults": [{"kind": "stale_token", "endpoint": "claim_info.submit"}],
        "availity_faults": [{"kind": "stale_token", "endpoint": "attachment.submit"}],
    },
    "429 and 5xx": {
        "integrex_faults": [
            {"kind": "error", "status": 429, "count": 2, "endpoint": "claim_info.submit"},
            {"kind": "error", "status": 500, "count": 2, "endpoint": "claim_info.fetch"},
        ],
        "availity_faults": [
            {"kind": "error", "status": 429, "count": 2, "endpoint": "attachment.submit"},
            {"kind": "error", "status": 503, "count": 2, "endpoint": "attachment.submit"},
            {"kind": "error", "status": 502, "count": 2, "endpoint": "attachment.status"},
        ],
    },
    "slow answers": {
        "integrex_faults": [{"kind": "slow", "delay_seconds": 1.5, "count": 2}],
        "availity_faults": [{"kind": "slow", "delay_seconds": 1.5, "count": 2}],
    },
    "pending results": {
        "integrex_config": {"pending_polls": 5},
        "availity_config": {"status_sequence": ["SUBMITTED"] * 5 + ["ACCEPTED"]},
    },
    "parameterViolations": {"violations": 2, "attachment_outcome": "rejected"},
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_the_sample_ends_with_a_status_answered_and_an_attachment_filed(
    scenario: str, stack: Stack, sample_payload: dict[str, Any], kafka_broker: KafkaBroker
) -> None:
    spec = SCENARIOS[scenario]
    tag = f"S{list(SCENARIOS).index(scenario)}X"
    numbers = {f"{tag}{n}" for n in CLAIM_NUMBERS}
    for number in numbers:
        put_documents(stack.documents, number, ["11506-3", "34117-2"])
    await stack.integrex.configure(
        category_code="R4", status_code="21", pending_polls=1, token_lifetime_seconds=3599
    )
    await stack.availity.configure(status_sequence=["SUBMITTED", "ACCEPTED"])
    await stack.integrex.configure(**spec.get("integrex_config", {}))
    await stack.availity.configure(**spec.get("availity_config", {}))
    for fault in spec.get("integrex_faults", []):
        await stack.integrex.fault(**fault)
    for fault in spec.get("availity_faults", []):
        await stack.availity.fault(**fault)
    stack.violations.armed = spec.get("violations", 0)
    claims = stack.logs / f"claims-{tag}.csv"
    claims.write_text(_claims_csv(tag))
    stack.run("claims", "import", str(claims))

    async with RedoxSender(token=TOKEN, max_attempts=3) as sender:
        delivery = await sender.deliver(
            stack.webhook_url, _variant(sample_payload, tag), fresh_log_id=True
        )
    assert delivery.delivered

    kafka = Kafka(kafka_broker.bootstrap_servers)
    statuses = await _results(kafka, stack.topics.status_check_results, StatusCheckResult, numbers)
    attachments = await _results(kafka, stack.topics.attachment_results, AttachmentResult, numbers)
    stack.alive()

    assert {r.submission_number for r in statuses} == numbers
    assert {(r.outcome, r.category_code, r.needs_documents) for r in statuses} == {
        ("answered", "R4", True)
    }
    assert {r.submission_number for r in attachments} == numbers
    outcome = spec.get("attachment_outcome", "accepted")
    assert {r.outcome for r in attachments} == {outcome}
    integrex_counts = await stack.integrex.submissions()
    assert {n: integrex_counts.get(n) for n in numbers} == dict.fromkeys(numbers, 1)
    availity_counts = await stack.availity.submissions()
    # One Attachment Control Number per attachment: the submission's number and a position.
    filed = {
        f"{r.attachment_control_number}-{position}": availity_counts.get(
            f"{r.attachment_control_number}-{position}"
        )
        for r in attachments
        for position in (1, 2)
    }
    expected = 1 if outcome == "accepted" else None
    assert filed == dict.fromkeys(filed, expected)
    for result in attachments:
        # The ledger writes both answers on the claim's timeline.
        expected_lines = (
            "claim status check answered: R4",
            f"attachment {outcome}: control number {result.attachment_control_number}",
        )
        await eventually(
            lambda number=result.submission_number, lines=expected_lines: _on_timeline(
                stack, number, lines
            ),
            within=60,
        )
    _no_secrets_in_logs(stack)


def _on_timeline(stack: Stack, number: str, lines: tuple[str, ...]) -> bool:
    timeline = stack.run("claim", "show", number)
    assert "Bixby" not in timeline
    return all(line in timeline for line in lines)


async def _results(kafka: Kafka, topic: str, model: Any, numbers: set[str]) -> list[Any]:
    found: list[Any] = []

    async def arrived() -> bool:
        nonlocal found
        found = [r for r in await kafka.models(topic, model) if r.submission_number in numbers]
        return {r.submission_number for r in found} == numbers

    await eventually(arrived, within=120)
    # One result per claim, however often a copy was re-published.
    unique = {r.submission_number: r for r in found}
    return list(unique.values())


def _no_secrets_in_logs(stack: Stack) -> None:
    text = "".join(p.read_text(errors="replace") for p in stack.logs.glob("*.log"))
    tokens = (*stack.integrex.tokens_issued(), *stack.availity.tokens_issued())
    for secret in (INTEGREX_SECRET, AVAILITY_SECRET, TOKEN, *tokens):
        assert secret not in text
    for phi in ("Bixby", "2008-01-06"):
        assert phi not in text
