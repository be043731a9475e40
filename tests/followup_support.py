"""What the partner-handler tests share: sandboxes over real HTTP, settings, Kafka and commands.

Sandboxes are the production sandbox apps served by uvicorn on a free loopback port in a thread
(like tests/followups/partners/partner_support.py); handlers run in the real handler runtime
against the session's real broker, on topics of their own (a unique prefix per test).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import BaseModel, SecretStr
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send
from support import polling
from support.kafka import PARTITIONS, read_records
from support.server import serve as support_serve

from claimflow.settings import (
    AvailitySettings,
    DatabaseSettings,
    FollowUpSettings,
    HandlerSettings,
    IntegrexSettings,
    KafkaSettings,
    Settings,
)
from handlers.followups.state import upgrade as upgrade_follow_ups
from handlers.ledger.database import create_engine
from router.followups import AttachmentRequest, FollowUpClaim, StatusCheckRequest
from router.topics import HEADERS, TopicSet

CLIENT_ID = "claimflow-followup-test"
INTEGREX_SECRET = "integrex-followup-secret-WmFwcGFkb28"
AVAILITY_SECRET = "availity-followup-secret-QnJvY2NvbGk"
M = TypeVar("M", bound=BaseModel)

# PHI of the test claim: no log line may contain any of these.
PHI_VALUES = ("Timothy", "Bixby", "1008-01-02", "XJQ901233")


@dataclass
class Sandbox:
    """A sandbox app served at ``url``; steered over its ``/_sandbox`` control surface."""

    url: str
    app: Starlette

    @property
    def state(self) -> Any:
        return self.app.state.sandbox

    async def fault(self, **fault: Any) -> None:
        await self._call("POST", "/_sandbox/faults", fault)

    async def configure(self, **knobs: Any) -> None:
        await self._call("POST", "/_sandbox/config", knobs)

    async def submissions(self) -> dict[str, int]:
        by_key: dict[str, int] = (await self._call("GET", "/_sandbox/submissions"))["by_key"]
        return by_key

    async def responses(self, endpoint: str) -> dict[str, int]:
        stats = await self._call("GET", "/_sandbox/stats")
        counts: dict[str, int] = stats["responses"].get(endpoint, {})
        return counts

    def tokens_issued(self) -> tuple[str, ...]:
        issued: tuple[str, ...] = self.state.tokens.issued_values
        return issued

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=self.url) as http:
            response = await http.request(method, path, json=body)
            response.raise_for_status()
            return response.json()


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread; yields its base URL."""
    with support_serve(app, thread_name="followup-sandbox") as url:
        yield url


class ViolationsOnce:
    """Wraps the Availity sandbox: the next ``armed`` POSTs of an attachment are answered with
    the reference's own ``parameterViolations`` sample (the sandbox's rules and the client's
    local validation agree, so no valid-looking body reaches it otherwise)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.armed = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if self.armed and scope["type"] == "http" and path.endswith("/rest/response"):
            self.armed -= 1
            body = (
                b'{"parameterViolations":[{"constraintType":"PARAMETER",'
                b'"path":"sendResponseExt.arg0.patient.lastName",'
                b'"message":"Patient Last Name is required.","value":""}]}'
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


_FAST = {
    "requests_per_second": 1000.0,
    "timeout_seconds": 5.0,
    "connect_timeout_seconds": 2.0,
    "retry_max_attempts": 5,
    "retry_budget_seconds": 10.0,
    "backoff_base_seconds": 0.001,
    "backoff_max_seconds": 0.01,
    "poll_interval_seconds": 0.01,
    "poll_max_interval_seconds": 0.05,
    "poll_deadline_seconds": 10.0,
}


def integrex_settings(url: str, **overrides: Any) -> IntegrexSettings:
    values: dict[str, Any] = {
        **_FAST,
        "base_url": url,
        "client_id": CLIENT_ID,
        "client_secret": SecretStr(INTEGREX_SECRET),
        "env": "T",
    }
    values.update(overrides)
    return IntegrexSettings.model_validate(values)


def availity_settings(url: str, **overrides: Any) -> AvailitySettings:
    values: dict[str, Any] = {
        **_FAST,
        "base_url": f"{url}/availity",
        "token_url": f"{url}/v1/token",
        "client_id": CLIENT_ID,
        "client_secret": SecretStr(AVAILITY_SECRET),
        "submitter_id": "477823",
        "submitter_state": "TX",
    }
    values.update(overrides)
    return AvailitySettings.model_validate(values)


def make_settings(
    *,
    bootstrap: str,
    topics: TopicSet,
    database_url: str,
    documents: Path,
    integrex: IntegrexSettings | None = None,
    availity: AvailitySettings | None = None,
    followups: dict[str, Any] | None = None,
    **handler_overrides: Any,
) -> Settings:
    handler_values: dict[str, Any] = {
        "health_port": 0,
        "max_attempts": 3,
        "retry_topic_attempts": 1,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.2,
        "document_store": documents,
        "lane": topics.lane,
    }
    handler_values.update(handler_overrides)
    values: dict[str, Any] = {
        "kafka": KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=topics.prefix),
        "database": DatabaseSettings(url=SecretStr(database_url)),
        "handlers": HandlerSettings(**handler_values),
        # Timers looked at often, and a short grace on stop: tests wait for seconds, not minutes.
        "followups": FollowUpSettings(
            **{"tick_seconds": 0.05, "stop_grace_seconds": 1.0, **(followups or {})}
        ),
    }
    if integrex is not None:
        values["integrex"] = integrex
    if availity is not None:
        values["availity"] = availity
    return Settings(**values)


async def prepare_database(url: str) -> None:
    """The partner handlers' tables (their own Alembic chain) in the database at ``url``."""
    engine = create_engine(DatabaseSettings(url=SecretStr(url)))
    try:
        await upgrade_follow_ups(engine)
    finally:
        await engine.dispose()


@dataclass
class Kafka:
    """Test-side Kafka access; every client it opens is closed before it returns."""

    bootstrap: str

    async def create_topics(self, topics: TopicSet, handlers: tuple[str, ...]) -> None:
        names = [
            topics.status_check_requests,
            topics.attachment_requests,
            topics.status_check_results,
            topics.attachment_results,
        ]
        for handler in handlers:
            names += [topics.handler_retry(handler), topics.handler_dead_letter(handler)]
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics(
                [NewTopic(n, num_partitions=PARTITIONS, replication_factor=1) for n in names]
            )
        finally:
            await admin.close()

    async def send_command(
        self, topic: str, command: StatusCheckRequest | AttachmentRequest
    ) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(
                topic,
                key=command.claim.submission_number.encode(),
                value=command.model_dump_json(by_alias=True).encode(),
                headers=[
                    (HEADERS.MESSAGE_ID, command.command_id.encode()),
                    (HEADERS.SCHEMA, command.schema_name.encode()),
                ],
            )
        finally:
            await producer.stop()

    async def read(self, topic: str) -> list[Any]:
        """Every record now on ``topic``."""
        return await read_records(self.bootstrap, topic)

    async def models(self, topic: str, model: type[M]) -> list[M]:
        return [model.model_validate_json(r.value) for r in await self.read(topic)]

    async def wait_for(
        self, topic: str, model: type[M], count: int = 1, within: float = 60
    ) -> list[M]:
        found: list[M] = []

        async def enough() -> bool:
            nonlocal found
            found = await self.models(topic, model)
            return len(found) >= count

        await eventually(enough, within=within)
        return found


async def eventually(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool], *, within: float = 60.0
) -> None:
    await polling.eventually(condition, within=within, interval=0.1)


def unique_topics(lane: str = "production") -> TopicSet:
    return TopicSet(prefix=f"f{uuid.uuid4().hex[:10]}.", lane=lane)  # type: ignore[arg-type]


def claim(number: str | None = None, **overrides: Any) -> FollowUpClaim:
    values: dict[str, Any] = {
        "claim_id": str(uuid.uuid4().int % 100000),
        "submission_number": number or f"CLM-{uuid.uuid4().hex[:8].upper()}",
        "payer_control_number": "PCN-7788",
        "payer_id": "AETNA",
        "payer_name": "Aetna",
        "patient_first_name": "Timothy",
        "patient_last_name": "Bixby",
        "patient_dob": date(1008, 1, 2),
        "patient_account_number": "ACCT-55",
        "subscriber_id": "XJQ901233",
        "billing_provider_npi": "1083052872",
        "billing_provider_tax_id": "999887777",
        "billing_provider_name": "Sutter Medical Center",
        "service_from": date(2024, 3, 1),
        "service_to": date(2024, 3, 2),
        "submitted_on": date(2024, 3, 5),
        "charged_amount": Decimal("1200.00"),
    }
    values.update(overrides)
    return FollowUpClaim(**values)


def status_check(the_claim: FollowUpClaim | None = None, **overrides: Any) -> StatusCheckRequest:
    values: dict[str, Any] = {
        "command_id": str(uuid.uuid4()),
        "reason": "the claim was denied without a documentation reason",
        "rule": "denied-without-documentation-reason",
        "trigger_message_id": str(uuid.uuid4()),
        "requested_at": datetime.now(UTC),
        "claim": the_claim or claim(),
        "tracking_number": "TRACE-1",
    }
    values.update(overrides)
    return StatusCheckRequest(**values)


def attachment(the_claim: FollowUpClaim | None = None, **overrides: Any) -> AttachmentRequest:
    values: dict[str, Any] = {
        "command_id": str(uuid.uuid4()),
        "reason": "the payer needs documentation to adjudicate the claim",
        "rule": "documentation-required",
        "trigger_message_id": str(uuid.uuid4()),
        "requested_at": datetime.now(UTC),
        "claim": the_claim or claim(),
        "loinc_codes": ["11506-3", "34117-2"],
        "solicited": False,
    }
    values.update(overrides)
    return AttachmentRequest(**values)


PDF = b"%PDF-1.4\n% claimflow test document\n%%EOF\n"


def put_documents(root: Path, claim_number: str, codes: list[str]) -> None:
    for code in codes:
        directory = root / claim_number / code
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{code}.pdf").write_bytes(PDF)
