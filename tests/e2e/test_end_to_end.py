"""End to end: the Redox sample posted to the receiver ends in a status check answered by the
Integrex sandbox and an attachment accepted by the Availity sandbox, with the partners failing in
each way they can.

Every process exports its spans (``CLAIMFLOW_TRACING__ENABLED=true``) over OTLP/HTTP to a trace
sink in this process (``claimflow.devstack.traces.TraceSink``): the last test follows one
delivery's trace from the POST to the partners' answers, and finds no PHI in any span of the run.

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
import json
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
from claimflow.devstack.traces import SpanRecord, TraceSink, render_traces
from router.followups import AttachmentResult, StatusCheckResult
from router.messages import webhook_message_id
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
    traces: TraceSink
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
    traces = TraceSink()
    with (
        serve(integrex) as integrex_url,
        serve(violations) as availity_url,
        serve(traces) as traces_url,
    ):
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
            "CLAIMFLOW_TRACING__ENABLED": "true",
            "CLAIMFLOW_TRACING__SAMPLE_RATIO": "1",  # this delivery's trace, whatever the ratio
            "OTEL_EXPORTER_OTLP_ENDPOINT": traces_url,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
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
            traces=traces,
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


# -- the trace of one delivery ----------------------------------------------------------------


def _by_id(spans: list[SpanRecord]) -> dict[str, SpanRecord]:
    return {span.span_id: span for span in spans}


def _one(spans: list[SpanRecord], **where: str) -> SpanRecord:
    found = _all(spans, **where)
    assert len(found) == 1, (where, [(s.service, s.kind, s.name) for s in found])
    return found[0]


def _all(spans: list[SpanRecord], **where: str) -> list[SpanRecord]:
    return [s for s in spans if all(getattr(s, key) == value for key, value in where.items())]


def _children(spans: list[SpanRecord], parent: SpanRecord, **where: str) -> list[SpanRecord]:
    return [s for s in _all(spans, **where) if s.parent_id == parent.span_id]


def _descends(span: SpanRecord, ancestor: SpanRecord, index: dict[str, SpanRecord]) -> bool:
    parent = span.parent_id
    while parent is not None:
        if parent == ancestor.span_id:
            return True
        parent = index[parent].parent_id if parent in index else None
    return False


def _trace_of_delivery(sink: TraceSink, log_id: str) -> list[SpanRecord]:
    webhook_id = webhook_message_id(log_id)
    publish = [
        span
        for span in sink.snapshot()
        if span.service == "claimflow-receiver"
        and span.kind == "PRODUCER"
        and span.attributes.get("messaging.message.id") == webhook_id
    ]
    assert len(publish) == 1
    return [span for span in sink.snapshot() if span.trace_id == publish[0].trace_id]


def _span_text(span: SpanRecord) -> str:
    return json.dumps([span.name, span.attributes, span.events])


async def test_one_delivery_is_one_trace_from_the_post_to_the_partners_answer(
    stack: Stack, sample_payload: dict[str, Any], kafka_broker: KafkaBroker
) -> None:
    tag = "TRX"
    numbers = {f"{tag}{n}" for n in CLAIM_NUMBERS}
    for number in numbers:
        put_documents(stack.documents, number, ["11506-3", "34117-2"])
    await stack.integrex.configure(
        category_code="R4", status_code="21", pending_polls=1, token_lifetime_seconds=3599
    )
    await stack.availity.configure(status_sequence=["SUBMITTED", "ACCEPTED"])
    claims = stack.logs / f"claims-{tag}.csv"
    claims.write_text(_claims_csv(tag))
    stack.run("claims", "import", str(claims))
    async with RedoxSender(token=TOKEN, max_attempts=3) as sender:
        delivery = await sender.deliver(
            stack.webhook_url, _variant(sample_payload, tag), fresh_log_id=True
        )
    assert delivery.delivered
    kafka = Kafka(kafka_broker.bootstrap_servers)
    await _results(kafka, stack.topics.attachment_results, AttachmentResult, numbers)
    topics = stack.topics

    def complete() -> bool:
        spans = _trace_of_delivery(stack.traces, delivery.log_id)
        consumed = {(s.service, s.name) for s in spans if s.kind == "CONSUMER"}
        # The ledger records both partners' answers: the trace's last consumer spans.
        return ("claimflow-ledger", f"{topics.attachment_results} process") in consumed

    await eventually(complete, within=60)
    await asyncio.sleep(1)  # the last spans of each process: one more export round
    spans = _trace_of_delivery(stack.traces, delivery.log_id)
    index = _by_id(spans)
    everything = _by_id(stack.traces.snapshot())
    _trace_summary(spans, stack.logs / "trace.txt")
    (stack.logs / "spans.jsonl").write_text(
        "".join(s.to_json() + "\n" for s in everything.values())
    )

    # receiver: a SERVER span, the root; the publish is its PRODUCER child.
    server = _one(spans, service="claimflow-receiver", kind="SERVER")
    assert server.parent_id is None
    assert server.name == "POST /webhooks/redox"
    webhook_topic = topics.webhook_payment_batch
    publish = _one(spans, service="claimflow-receiver", kind="PRODUCER")
    assert (publish.name, publish.parent_id) == (f"{webhook_topic} publish", server.span_id)

    # router: one CONSUMER span for the webhook, one PRODUCER `create` span per claim message,
    # and the transaction (a trace of its own) linked to the webhook's span.
    routed = _one(spans, service="claimflow-router", kind="CONSUMER")
    assert (routed.name, routed.parent_id) == (f"{webhook_topic} process", publish.span_id)
    creates = _children(spans, routed, service="claimflow-router", kind="PRODUCER")
    assert [c.name for c in creates] == [f"{topics.claim_payments} create"] * 2
    transactions = [
        s
        for s in everything.values()
        if s.name == f"{webhook_topic} transaction" and (routed.trace_id, routed.span_id) in s.links
    ]
    assert len(transactions) == 1

    # ledger: a span per claim message, child of its `create` span and linked to the batch's
    # `receive` span; its SQL spans; the status-check command it publishes from its outbox.
    ledger = [
        s
        for s in spans
        if s.service == "claimflow-ledger" and s.name == f"{topics.claim_payments} process"
    ]
    assert sorted(s.parent_id or "" for s in ledger) == sorted(c.span_id for c in creates)
    for span in ledger:
        assert span.kind == "CONSUMER"
        (link,) = span.links
        assert everything[link[1]].name == f"{topics.claim_payments} receive"
        sql = _children(spans, span, kind="CLIENT")
        assert sql, "no SQL span under the ledger's span"
        statements = [
            s.attributes.get("db.statement", s.attributes.get("db.query.text")) for s in sql
        ]
        assert all(statements), [s.attributes for s in sql]
    commands = _all(spans, kind="PRODUCER", name=f"{topics.status_check_requests} publish")
    # (The sample's transaction is reconciled when its last claim arrives: that message's span
    # may publish both claims' commands.)
    assert len(commands) == 2
    assert {c.parent_id for c in commands} <= {s.span_id for s in ledger}

    # status check: a CONSUMER span per command; the timer's steps continue it, and their
    # httpx CLIENT spans are the calls to Integrex.
    status_consumers = _all(
        spans, service="claimflow-status-check", name=f"{topics.status_check_requests} process"
    )
    assert sorted(s.parent_id or "" for s in status_consumers) == sorted(
        c.span_id for c in commands
    )
    for consumer in status_consumers:
        steps = _children(spans, consumer, name="status-check step", kind="INTERNAL")
        assert steps
        calls = [s for s in spans if s.kind == "CLIENT" and _descends(s, consumer, index)]
        urls = {str(s.attributes.get("http.url", s.attributes.get("url.full"))) for s in calls}
        assert any(url.startswith(stack.integrex.url) for url in urls), urls

    # attachment: the ledger decides the attachment the payer asked for when it records the
    # status answer (one place decides), so the command's publish is a child of the ledger's
    # span for that answer; then the call to Availity.
    answers = _all(spans, service="claimflow-ledger", name=f"{topics.status_check_results} process")
    attachment_consumers = _all(
        spans, service="claimflow-attachment", name=f"{topics.attachment_requests} process"
    )
    assert len(attachment_consumers) == 2
    for consumer in attachment_consumers:
        command = index[consumer.parent_id or ""]
        assert (command.service, command.kind) == ("claimflow-ledger", "PRODUCER")
        assert command.name == f"{topics.attachment_requests} publish"
        assert command.parent_id in {s.span_id for s in answers}
        calls = [s for s in spans if s.kind == "CLIENT" and _descends(s, consumer, index)]
        urls = {str(s.attributes.get("http.url", s.attributes.get("url.full"))) for s in calls}
        assert any(url.startswith(stack.availity.url) for url in urls), urls

    # The partners' answers come back to the ledger in the same trace.
    for results_topic in (topics.status_check_results, topics.attachment_results):
        assert len(_all(spans, service="claimflow-ledger", name=f"{results_topic} process")) >= 2

    _no_phi_in_spans(list(everything.values()), sample_payload, numbers)


def _trace_summary(spans: list[SpanRecord], path: Path) -> None:
    """The trace as a tree, for a person reading the test's output directory."""
    path.write_text(render_traces(spans, last=1) + "\n")


def _no_phi_in_spans(
    spans: list[SpanRecord], sample_payload: dict[str, Any], numbers: set[str]
) -> None:
    """No span of the whole run (every scenario so far) holds PHI, a secret or a query string."""
    assert len(spans) > 100
    phi = _phi_values(sample_payload) | {"Bixby", "Timothy", "2008-01-06"}
    phi |= {f"MEM{n}" for n in CLAIM_NUMBERS}
    for span in spans:
        text = _span_text(span)
        leaked = {value for value in phi if value in text}
        assert not leaked, (span.service, span.name, leaked)
        for secret in (TOKEN, INTEGREX_SECRET, AVAILITY_SECRET):
            assert secret not in text
        for key in ("http.url", "url.full", "http.target"):
            assert "?" not in str(span.attributes.get(key, "")), (span.name, key)
        assert not span.attributes.get("url.query")
        # SQL: the statement with its placeholders, never the values bound to it.
        assert "db.statement.parameters" not in span.attributes


def _phi_values(payload: dict[str, Any]) -> set[str]:
    """Every string of 4+ characters under each Patient of the sample."""

    def strings(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    return {
        text
        for transaction in payload["Transactions"]
        for payment in transaction["Payments"]
        for text in strings(payment["Patient"])
        if len(text) >= 4
    }
