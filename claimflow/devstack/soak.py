"""A fault soak of the whole stack that ends in figures: ``make soak`` (and, 60 s, in the tests).

Every part runs as its own OS process, started by the dev stack's machinery (``LocalStack``):
a KRaft broker, the Integrex and Availity sandboxes, ``claimflow serve``, ``route`` and ``handle
ledger|status-check|attachment``, on a ledger in SQLite or in a local PostgreSQL server. A
Redox-like sender posts the Claim.PaymentBatch sample at a steady rate, each delivery with a log
id and claim numbers of its own (the claims are imported first, so every payment matches), and
retries with the same log id on any non-2xx answer, timeout or refused connection, honouring a
Retry-After. Meanwhile a fault schedule

* kills (SIGKILL) each role in turn, the receiver included, and starts it again;
* restarts the broker once;
* makes the Integrex sandbox slow for a while, then failing (503) for a while.

When the sender has stopped and every delivery is acknowledged, the stack drains and the soak
reads the figures from where they are kept: the topics (aiokafka ``read_committed`` consumers),
the ledger's tables and the sandboxes' own counters (``/_sandbox/submissions``). A run is
correct when every acknowledged claim payment is posted exactly once, no claim message is on a
topic twice, and no partner saw a submission twice; ``SoakReport.violations`` lists what is not.
Timings (acknowledgement latency, recovery after each fault) are reported, never judged.

    python -m claimflow.devstack.soak --minutes 10 --rate 2 --database postgresql

This module is dev tooling: it is not in the production wheel (neither is the sandboxes package).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from claimflow.devstack.kafka import KafkaBroker, free_port
from claimflow.devstack.postgres import LocalPostgres
from claimflow.devstack.stack import LocalStack, StackProcess, seed_demo_documents
from claimflow.errors import CommandError
from router.topic_admin import ensure_topics
from router.topics import HEADERS, TopicSet
from sandboxes.redox_sender import RedoxSender, load_sample

__all__ = ["FaultRecord", "SoakOptions", "SoakReport", "main", "run_soak"]

Database = Literal["sqlite", "postgresql"]
#: The roles the schedule kills, in turn (names of the dev stack's processes).
KILLED_ROLES = ("receiver", "router", "ledger", "status-check", "attachment")
_CLAIMS_HEADER = (
    "claim_number,charged_amount,payer_id,payer_name,provider_npi,provider_tax_id,"
    "provider_name,patient_first_name,patient_last_name,patient_dob,member_id,"
    "patient_account_number,service_start,service_end,submitted_on"
)
# Settings the soak gives every process: short waits, so that a fault shows in a minute.
_SOAK_ENV = {
    "CLAIMFLOW_RECEIVER__RETRY_AFTER_SECONDS": "2",
    "CLAIMFLOW_HANDLERS__BACKOFF_BASE_SECONDS": "0.2",
    "CLAIMFLOW_HANDLERS__BACKOFF_MAX_SECONDS": "2",
    "CLAIMFLOW_FOLLOWUPS__TICK_SECONDS": "0.5",
    # A killed handler's claimed follow-ups are taken over once their lease runs out (above the
    # partners' 5 s timeout).
    "CLAIMFLOW_FOLLOWUPS__LEASE_SECONDS": "10",
    "CLAIMFLOW_LOGGING__FORMAT": "json",
    # The soak sends far more than the Availity Demo plan's 500 requests a day.
    "CLAIMFLOW_AVAILITY__DAILY_REQUEST_LIMIT": "10000000",
    **{
        f"CLAIMFLOW_{partner}__{knob}": value
        for partner in ("INTEGREX", "AVAILITY")
        for knob, value in (
            ("REQUESTS_PER_SECOND", "50"),
            ("TIMEOUT_SECONDS", "5"),
            ("BACKOFF_BASE_SECONDS", "0.2"),
            ("BACKOFF_MAX_SECONDS", "2"),
            ("POLL_INTERVAL_SECONDS", "0.5"),
            ("POLL_MAX_INTERVAL_SECONDS", "1"),
            ("CIRCUIT_RESET_SECONDS", "5"),
        )
    },
}


@dataclass(frozen=True, slots=True)
class SoakOptions:
    state_dir: Path
    seconds: float = 600.0
    """How long the sender sends and the schedule plays its faults."""
    rate: float = 2.0
    """Webhooks (new deliveries) per second."""
    database: Database = "sqlite"
    drain_seconds: float = 180.0
    """Longest wait, after sending stops, for every delivery to be acknowledged and posted."""
    partner_slow_seconds: float | None = None
    partner_down_seconds: float | None = None


@dataclass(slots=True)
class FaultRecord:
    """One fault of the schedule and how long the stack took to get over it."""

    name: str
    measured_as: str
    at: float = 0.0
    """Seconds after the start of sending."""
    recovered_after: float | None = None


@dataclass(slots=True)
class _Delivery:
    log_id: str
    first_sent: float
    acked_at: float | None = None
    attempts: int = 0


@dataclass(slots=True)
class _Snapshot:
    posted: int = 0
    integrex_claims: int = 0
    availity_claims: int = 0


@dataclass(slots=True)
class SoakReport:
    """The figures of one run; ``violations()`` is empty when nothing was lost or doubled."""

    started: datetime
    seconds: float
    rate: float
    database: Database
    claims_per_webhook: int
    deliveries_sent: int = 0
    webhooks_acknowledged: int = 0
    payments_posted: int = 0
    payments_posted_twice: int = 0
    claim_messages: int = 0
    claim_messages_duplicated: int = 0
    followup_commands: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per follow-up command topic: (messages, message ids seen more than once)."""
    followup_states: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per follow-up table (status_checks, attachment_submissions): rows by state at the end."""
    integrex_claims: int = 0
    """Claims the Integrex sandbox was asked about by the end (each once)."""
    availity_claims: int = 0
    """Claims with an attachment at the Availity sandbox by the end."""
    integrex_submissions: int = 0
    integrex_submitted_twice: int = 0
    availity_submissions: int = 0
    availity_submitted_twice: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    ack_latencies: list[float] = field(default_factory=list)
    attempt_latencies: list[float] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)
    unplanned_exits: Counter[str] = field(default_factory=Counter)
    start_up_exits: Counter[str] = field(default_factory=Counter)
    """Restarts that exited at start-up (e.g. the broker was down) and were started again."""
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def payments_expected(self) -> int:
        return self.webhooks_acknowledged * self.claims_per_webhook

    def violations(self) -> list[str]:
        found = []
        if self.webhooks_acknowledged != self.deliveries_sent:
            found.append(
                f"{self.deliveries_sent - self.webhooks_acknowledged} deliveries never acknowledged"
            )
        if self.payments_posted != self.payments_expected:
            found.append(
                f"{self.payments_posted} claim payments posted for {self.payments_expected} "
                "acknowledged"
            )
        for what, count in (
            ("claim payments posted twice", self.payments_posted_twice),
            (
                "claim messages duplicated on the claim-payments topic",
                self.claim_messages_duplicated,
            ),
            ("Integrex submissions made twice", self.integrex_submitted_twice),
            ("Availity submissions made twice", self.availity_submitted_twice),
        ):
            if count:
                found.append(f"{count} {what}")
        return found

    def table(self) -> str:
        """The figures as Markdown (docs/operations.md, "What we have tested")."""
        p50, p99 = _percentile(self.ack_latencies, 50), _percentile(self.ack_latencies, 99)
        a50, a99 = _percentile(self.attempt_latencies, 50), _percentile(self.attempt_latencies, 99)
        load = " ".join(f"{x:.2f}" for x in self.load_average)
        rows = [
            ("run", f"{self.seconds:g} s at {self.rate:g} webhooks/s, ledger on {self.database}"),
            ("started (UTC) / load average at the end", f"{self.started:%Y-%m-%d %H:%M} / {load}"),
            (
                "deliveries sent / webhooks acknowledged",
                _pair(self.deliveries_sent, self.webhooks_acknowledged),
            ),
            (
                f"claim payments acknowledged (x{self.claims_per_webhook}) / posted in the ledger",
                _pair(self.payments_expected, self.payments_posted),
            ),
            ("claim payments posted twice", str(self.payments_posted_twice)),
            (
                "claim-payments messages (read_committed) / duplicated",
                _pair(self.claim_messages, self.claim_messages_duplicated),
            ),
            *(
                (f"{topic} messages / duplicated", _pair(*counts))
                for topic, counts in self.followup_commands.items()
            ),
            (
                "follow-ups done by the end: claims checked with Integrex / attached at Availity",
                _pair(self.integrex_claims, self.availity_claims),
            ),
            *(
                (
                    f"{table} by state at the end",
                    ", ".join(f"{state} {n}" for state, n in sorted(states.items())) or "-",
                )
                for table, states in self.followup_states.items()
            ),
            (
                "Integrex claims submitted / submitted twice",
                _pair(self.integrex_submissions, self.integrex_submitted_twice),
            ),
            (
                "Availity documents submitted / submitted twice",
                _pair(self.availity_submissions, self.availity_submitted_twice),
            ),
            (
                "receiver answers: 2xx / 5xx with Retry-After / 5xx without",
                " / ".join(
                    str(self.answers[k]) for k in ("2xx", "5xx with Retry-After", "5xx without")
                ),
            ),
            (
                "sender: timeouts / refused connections / 4xx",
                " / ".join(str(self.answers[k]) for k in ("timeout", "no connection", "4xx")),
            ),
            ("acknowledgement latency p50 / p99 (first POST to 2xx)", f"{p50:.3f} s / {p99:.3f} s"),
            ("answered attempt latency p50 / p99", f"{a50:.3f} s / {a99:.3f} s"),
            (
                "unplanned process exits",
                ", ".join(f"{k} {v}" for k, v in sorted(self.unplanned_exits.items())) or "0",
            ),
            (
                "restarts that exited at start-up and were started again",
                ", ".join(f"{k} {v}" for k, v in sorted(self.start_up_exits.items())) or "0",
            ),
        ]
        lines = ["| figure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
        lines += ["", "| fault | at | recovered after | measured as |", "|---|---|---|---|"]
        for fault in self.faults:
            after = "-" if fault.recovered_after is None else f"{fault.recovered_after:.1f} s"
            lines.append(f"| {fault.name} | {fault.at:.0f} s | {after} | {fault.measured_as} |")
        return "\n".join(lines)


def _pair(a: int, b: int) -> str:
    return f"{a} / {b}"


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _free_pair() -> int:
    """A free port whose successor is free too (the broker's controller listens there)."""
    while True:
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


class _SoakStack:
    """The dev stack's pipeline processes on free ports; kill, restart, and the broker."""

    def __init__(self, options: SoakOptions) -> None:
        self.root = options.state_dir
        self.stack = LocalStack(
            state_dir=self.root,
            kafka_port=_free_pair(),
            receiver_port=free_port(),
            integrex_port=free_port(),
            availity_port=free_port(),
            role_health_ports={name: free_port() for name in KILLED_ROLES if name != "receiver"},
        )
        self.broker = KafkaBroker(
            state_dir=self.root / "kafka",
            port=self.stack.kafka_port,
            controller_port=self.stack.kafka_port + 1,
        )
        self.postgres: LocalPostgres | None = None
        if options.database == "postgresql":
            # The server runs as the postgres user: its directory must be reachable by it.
            pg_root = Path(tempfile.mkdtemp(prefix="claimflow-soak-pg-"))
            pg_root.chmod(0o755)
            self.postgres = LocalPostgres(state_dir=pg_root / "pg", port=free_port())
        self.database_url = (
            self.postgres.url
            if self.postgres is not None
            else f"sqlite+aiosqlite:///{self.root / 'ledger.db'}"
        )
        self.env: dict[str, str] = {}
        self.processes: dict[str, StackProcess] = {}
        self._extra: dict[str, dict[str, str]] = {}
        self.start_up_exits: Counter[str] = Counter()
        self.settling: set[str] = set()
        """Processes the schedule is killing or starting: the watchdog leaves them alone."""

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.stack.receiver_port}/webhooks/redox"

    @property
    def token(self) -> str:
        return self.env["CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN"]

    def sandbox_url(self, partner: str) -> str:
        port = self.stack.integrex_port if partner == "integrex" else self.stack.availity_port
        return f"http://127.0.0.1:{port}"

    def start(self, prepare: Callable[[], None]) -> None:
        """Bring the stack up; ``prepare`` runs (claims import) while the broker starts."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.postgres is not None:
            self.postgres.start()
        broker = threading.Thread(target=self.broker.start, name="soak-broker")
        broker.start()
        self.env = {
            **self.stack.environment(self.broker),
            **_SOAK_ENV,
            "CLAIMFLOW_DATABASE__URL": self.database_url,
        }
        roles: list[tuple[StackProcess, dict[str, str]]] = []
        for process, extra in self.stack.pipeline_plan():
            if process.name == "migrations":
                process.start(self.env)
                assert process.process is not None
                if process.process.wait(120) != 0:
                    raise RuntimeError(f"database migrations failed; see {process.log}")
            elif process.name.endswith("-sandbox"):
                self._launch(process, extra)
            else:
                roles.append((process, extra))
        prepare()
        broker.join()
        if not self.broker.is_running():
            raise RuntimeError(f"the broker did not start; see {self.broker.log_file}")
        asyncio.run(ensure_topics(self.broker.bootstrap_servers))
        for process, extra in roles:
            self._launch(process, extra)
        for process in self.processes.values():
            process.wait_healthy(timeout=120)

    def _launch(self, process: StackProcess, extra: dict[str, str]) -> None:
        process.start({**self.env, **extra})
        self.processes[process.name] = process
        self._extra[process.name] = extra

    def run(self, *argv: str) -> None:
        """Run one ``claimflow`` command to completion in the stack's environment."""
        done = subprocess.run(  # noqa: S603 - our own argv
            [_claimflow(), *argv], env=self.env, capture_output=True, timeout=300, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"claimflow {' '.join(argv)} failed: {done.stderr.decode()[-2000:]}")

    def kill(self, name: str) -> None:
        process = self.processes[name].process
        assert process is not None
        process.kill()
        process.wait()

    def restart(self, name: str) -> None:
        """Start ``name`` again until it is healthy, as Kubernetes would: a role that exits at
        start-up (the broker is restarting, say) is started again two seconds later, and counted
        in ``start_up_exits``."""
        process = self.processes[name]
        deadline = time.monotonic() + 180
        while True:
            process.start({**self.env, **self._extra[name]})
            try:
                process.wait_healthy(timeout=max(1.0, deadline - time.monotonic()))
            except CommandError:
                running = process.process is not None and process.process.poll() is None
                if running or time.monotonic() > deadline:
                    raise
                self.start_up_exits[name] += 1
                time.sleep(2.0)
            else:
                return

    def restart_broker(self) -> None:
        self.broker.stop()
        self.broker.start()

    def exited(self) -> list[str]:
        return [
            name
            for name, process in self.processes.items()
            if name not in self.settling
            and process.process is not None
            and process.process.poll() is not None
        ]

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()
        self.broker.stop()
        if self.postgres is not None:
            self.postgres.stop()
            print(f"soak: the PostgreSQL ledger is kept under {self.postgres.state_dir}")


def _claimflow() -> str:
    return str(Path(sys.executable).with_name("claimflow"))


class _Sender:
    """Redox, posting at a steady rate; every delivery retried with its log id until a 2xx."""

    def __init__(self, url: str, run_tag: str, report: SoakReport) -> None:
        self.url = url
        self.token = ""
        self.run_tag = run_tag
        self.report = report
        self.sample = load_sample()
        self._redox: RedoxSender | None = None
        self.deliveries: list[_Delivery] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.last_ack = 0.0

    def tag(self, index: int) -> str:
        return f"{self.run_tag}{index:06d}X"

    def claim_numbers(self, index: int) -> list[str]:
        tag = self.tag(index)
        return [
            f"{tag}{claim['SubmissionNumber']}"
            for transaction in self.sample["Transactions"]
            for payment in transaction["Payments"]
            for claim in payment["Claims"]
        ]

    def claims_csv(self, count: int) -> str:
        rows = [
            f"{number},100.00,REDOX1,National Insurance Company of Redox,1083052872,999887777,"
            f"Redox Health System,Timothy,Bixby,2008-01-06,MEM{number[-12:]},ACCT-{number},"
            "2016-10-01,2016-10-01,2016-10-31"
            for index in range(count)
            for number in self.claim_numbers(index)
        ]
        return "\n".join([_CLAIMS_HEADER, *rows]) + "\n"

    def payload(self, index: int, log_id: str) -> dict[str, Any]:
        tag = self.tag(index)
        body = copy.deepcopy(self.sample)
        for transaction in body["Transactions"]:
            for payment in transaction["Payments"]:
                for claim in payment["Claims"]:
                    claim["SubmissionNumber"] = f"{tag}{claim['SubmissionNumber']}"
                    claim["ControlNumber"] = f"{tag}{claim['ControlNumber']}"
        logs = body["Meta"].get("Logs") or [{}]
        logs[0] = {**logs[0], "ID": log_id}
        body["Meta"]["Logs"] = logs
        return body

    @property
    def acknowledged(self) -> int:
        return sum(1 for d in self.deliveries if d.acked_at is not None)

    @property
    def redox(self) -> RedoxSender:
        if self._redox is None:
            self._redox = RedoxSender(token=self.token, timeout_seconds=10.0)
        return self._redox

    async def send(self, seconds: float, give_up_at: Callable[[], float]) -> None:
        started = time.monotonic()
        index = 0
        while (now := time.monotonic()) < started + seconds:
            due = started + index / self.report.rate
            if now < due:
                await asyncio.sleep(due - now)
                continue
            task = asyncio.create_task(self._deliver(index, give_up_at))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            index += 1
        self.report.deliveries_sent = index

    async def _deliver(self, index: int, give_up_at: Callable[[], float]) -> None:
        delivery = _Delivery(log_id=str(uuid.uuid4()), first_sent=time.monotonic())
        self.deliveries.append(delivery)
        body = self.payload(index, delivery.log_id)
        answers = self.report.answers
        while time.monotonic() < give_up_at():
            delivery.attempts += 1
            body["Meta"]["Logs"][0]["AttemptID"] = str(uuid.uuid4())
            sent = time.monotonic()
            retry_after: str | None = None
            try:
                response = await self.redox.post(self.url, body)
            except httpx.TimeoutException:
                answers["timeout"] += 1
            except httpx.TransportError:
                answers["no connection"] += 1
            else:
                now = time.monotonic()
                self.report.attempt_latencies.append(now - sent)
                if 200 <= response.status_code < 300:
                    answers["2xx"] += 1
                    delivery.acked_at = now
                    self.last_ack = now
                    self.report.ack_latencies.append(now - delivery.first_sent)
                    return
                retry_after = response.headers.get("retry-after")
                if response.status_code >= 500:
                    answers["5xx with Retry-After" if retry_after else "5xx without"] += 1
                else:
                    answers["4xx"] += 1
            delay = min(2.0, 0.25 * 2 ** min(delivery.attempts - 1, 4))
            if retry_after is not None and retry_after.isdigit():
                delay = min(float(retry_after), 10.0)
            await asyncio.sleep(delay)

    async def aclose(self) -> None:
        if self._redox is not None:
            await self._redox.aclose()


class _Watch:
    """What the stack has done so far, sampled once a second from the ledger and the sandboxes."""

    def __init__(self, stack: _SoakStack, run_tag: str) -> None:
        self.stack = stack
        self.run_tag = run_tag
        self.engine: AsyncEngine = create_async_engine(stack.database_url)
        self.now = _Snapshot()
        self.http = httpx.AsyncClient(timeout=5.0)

    async def posted_per_claim(self) -> Counter[str]:
        query = text(
            "SELECT c.claim_number, count(a.id) FROM applied_payments a "
            "JOIN claims c ON c.id = a.claim_id "
            "WHERE a.reverses_id IS NULL AND c.claim_number LIKE :tag GROUP BY c.claim_number"
        )
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query, {"tag": f"{self.run_tag}%"})).all()
        return Counter({str(number): int(count) for number, count in rows})

    async def states(self, table: str) -> dict[str, int]:
        query = text(f"SELECT state, count(*) FROM {table} GROUP BY state")  # noqa: S608 - ours
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return {str(state): int(count) for state, count in rows}

    async def submissions(self, partner: str) -> dict[str, int]:
        answer = await self.http.get(f"{self.stack.sandbox_url(partner)}/_sandbox/submissions")
        answer.raise_for_status()
        by_key: dict[str, int] = answer.json()["by_key"]
        return by_key  # the soak's own sandboxes: every key is the soak's

    async def sample(self) -> None:
        with contextlib.suppress(Exception):  # a busy database or sandbox: the next sample
            posted = await self.posted_per_claim()
            integrex = await self.submissions("integrex")
            availity = await self.submissions("availity")
            self.now = _Snapshot(
                posted=len(posted),
                integrex_claims=len(integrex),
                availity_claims=len({key.rsplit("-", 1)[0] for key in availity}),
            )

    async def until(self, done: Callable[[_Snapshot], bool], deadline: float) -> bool:
        shown = 0.0
        while time.monotonic() < deadline:
            if done(self.now):
                return True
            if time.monotonic() - shown > 10:
                shown = time.monotonic()
                now = self.now
                print(
                    f"soak: draining: posted {now.posted}, checked with Integrex "
                    f"{now.integrex_claims}, attached at Availity {now.availity_claims}",
                    flush=True,
                )
            await asyncio.sleep(0.5)
        return done(self.now)

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.engine.dispose()


async def _partitions(bootstrap: str, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(int(p["partition"]) for p in described[0]["partitions"])


async def _read_committed(bootstrap: str, topic: str) -> list[Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in await _partitions(bootstrap, topic)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        records: list[Any] = []
        while any([await consumer.position(tp) < end[tp] for tp in partitions]):
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


def _duplicated_ids(records: list[Any]) -> tuple[int, int]:
    """(records, records whose ``claimflow-message-id`` an earlier record already had)."""
    ids = Counter(
        dict(record.headers or ()).get(HEADERS.MESSAGE_ID, b"").decode() for record in records
    )
    ids.pop("", None)  # a record without the header is no one's copy
    return len(records), sum(n - 1 for n in ids.values() if n > 1)


class _Schedule:
    """The faults, spread over the sending time, each followed by its recovery measurement."""

    def __init__(
        self, options: SoakOptions, stack: _SoakStack, sender: _Sender, watch: _Watch
    ) -> None:
        self.options = options
        self.stack = stack
        self.sender = sender
        self.watch = watch
        self.records: list[FaultRecord] = []
        self.recoveries: set[asyncio.Task[None]] = set()
        self.start = 0.0

    def _acked_claims(self) -> int:
        return self.sender.acknowledged * len(self.sender.claim_numbers(0))

    def _measure(
        self, record: FaultRecord, fault_at: float, done: Callable[[], Awaitable[bool]]
    ) -> None:
        async def wait() -> None:
            deadline = self.start + self.options.seconds + self.options.drain_seconds
            while time.monotonic() < deadline:
                if await done():
                    record.recovered_after = time.monotonic() - fault_at
                    return
                await asyncio.sleep(0.25)

        task = asyncio.create_task(wait())
        self.recoveries.add(task)

    def _first_ack_after(self, moment: float) -> Callable[[], Awaitable[bool]]:
        async def done() -> bool:
            return self.sender.last_ack > moment

        return done

    def _caught_up(self, attribute: str, target: int) -> Callable[[], Awaitable[bool]]:
        async def done() -> bool:
            value: int = getattr(self.watch.now, attribute)
            return value >= target

        return done

    async def run(self) -> None:
        self.start = time.monotonic()
        seconds = self.options.seconds
        slow = self.options.partner_slow_seconds or max(3.0, seconds * 0.05)
        down = self.options.partner_down_seconds or max(5.0, seconds * 0.08)
        steps: list[tuple[str, Callable[[FaultRecord, float], Coroutine[Any, Any, None]], str]] = [
            *((f"kill -9 {role}", self._kill(role), _MEASURE[role]) for role in KILLED_ROLES),
            (
                "broker restart",
                self._broker,
                "first 2xx after the restart, and every payment acknowledged before it posted",
            ),
            (
                f"Integrex slow (+2 s) for {slow:g} s, then failing (503) for {down:g} s",
                self._partner(slow, down),
                "every claim acknowledged by the end of the failure checked with Integrex",
            ),
        ]
        first, last = seconds * 0.08, seconds * 0.7
        gap = (last - first) / (len(steps) - 1)
        acting: list[asyncio.Task[None]] = []
        for number, (name, act, measured_as) in enumerate(steps):
            due = self.start + first + number * gap
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            record = FaultRecord(name=name, measured_as=measured_as)
            record.at = time.monotonic() - self.start
            self.records.append(record)
            print(f"soak: {record.at:6.1f} s  {name}", flush=True)
            # The schedule keeps its pace: a restart still under way overlaps the next fault.
            acting.append(asyncio.create_task(act(record, time.monotonic())))
        await asyncio.gather(*acting)

    def _kill(self, role: str) -> Callable[[FaultRecord, float], Coroutine[Any, Any, None]]:
        async def act(record: FaultRecord, fault_at: float) -> None:
            target = self._acked_claims()
            self.stack.settling.add(role)
            try:
                self.stack.kill(role)
                await asyncio.to_thread(self.stack.restart, role)
            finally:
                self.stack.settling.discard(role)
            if role == "receiver":
                self._measure(record, fault_at, self._first_ack_after(fault_at))
            else:
                attribute = {"status-check": "integrex_claims", "attachment": "availity_claims"}
                self._measure(
                    record, fault_at, self._caught_up(attribute.get(role, "posted"), target)
                )

        return act

    async def _broker(self, record: FaultRecord, fault_at: float) -> None:
        target = self._acked_claims()
        await asyncio.to_thread(self.stack.restart_broker)
        ack = self._first_ack_after(fault_at)
        posted = self._caught_up("posted", target)

        async def done() -> bool:
            return await ack() and await posted()

        self._measure(record, fault_at, done)

    def _partner(
        self, slow_seconds: float, down_seconds: float
    ) -> Callable[[FaultRecord, float], Coroutine[Any, Any, None]]:
        url = f"{self.stack.sandbox_url('integrex')}/_sandbox/faults"
        slow = {"kind": "slow", "delay_seconds": 2.0, "for_seconds": slow_seconds}
        down = {"kind": "error", "status": 503, "for_seconds": down_seconds}

        async def act(record: FaultRecord, fault_at: float) -> None:
            for fault, seconds in ((slow, slow_seconds), (down, down_seconds)):
                (await self.watch.http.post(url, json=fault)).raise_for_status()
                await asyncio.sleep(seconds)
            window_end = time.monotonic()
            self._measure(
                record, window_end, self._caught_up("integrex_claims", self._acked_claims())
            )

        return act


_MEASURE = {
    "receiver": "first 2xx after the kill",
    "router": "every payment acknowledged before the kill posted",
    "ledger": "every payment acknowledged before the kill posted",
    "status-check": "every claim acknowledged before the kill checked with Integrex",
    "attachment": "every claim acknowledged before the kill attached at Availity",
}


async def _soak(
    options: SoakOptions, stack: _SoakStack, sender: _Sender, report: SoakReport
) -> None:
    run_tag = sender.run_tag
    watch = _Watch(stack, run_tag)
    schedule = _Schedule(options, stack, sender, watch)
    stopping = asyncio.Event()

    async def sampler() -> None:
        while not stopping.is_set():
            await watch.sample()
            for name in stack.exited():  # a role that died by itself: count it, start it again
                report.unplanned_exits[name] += 1
                print(f"soak: {name} exited by itself; starting it again", flush=True)
                stack.settling.add(name)
                try:
                    await asyncio.to_thread(stack.restart, name)
                finally:
                    stack.settling.discard(name)
            await asyncio.sleep(1.0)

    started = time.monotonic()
    give_up = started + options.seconds + options.drain_seconds
    sampling = asyncio.create_task(sampler())
    try:
        await asyncio.gather(sender.send(options.seconds, lambda: give_up), schedule.run())
        print(
            f"soak: sending stopped after {time.monotonic() - started:.0f} s; draining", flush=True
        )
        if sender.tasks:
            await asyncio.wait(set(sender.tasks), timeout=max(0.0, give_up - time.monotonic()))
        expected = sender.acknowledged * report.claims_per_webhook
        await watch.until(
            lambda now: (
                now.posted >= expected
                and now.integrex_claims >= expected
                and now.availity_claims >= expected
            ),
            give_up,
        )
        for task in schedule.recoveries:
            task.cancel()
        await asyncio.sleep(3.0)  # let a straggling duplicate, if any, arrive
        await _final_figures(stack, sender, watch, report)
        report.faults = schedule.records
    finally:
        stopping.set()
        await sampling
        for task in list(sender.tasks):
            task.cancel()
        await sender.aclose()
        await watch.aclose()


async def _final_figures(
    stack: _SoakStack, sender: _Sender, watch: _Watch, report: SoakReport
) -> None:
    report.webhooks_acknowledged = sender.acknowledged
    posted = await watch.posted_per_claim()
    report.payments_posted = len(posted)
    report.payments_posted_twice = sum(1 for n in posted.values() if n > 1)
    topics = TopicSet(
        prefix=stack.env.get("CLAIMFLOW_KAFKA__TOPIC_PREFIX", "claimflow."), lane="test"
    )
    bootstrap = stack.broker.bootstrap_servers
    report.claim_messages, report.claim_messages_duplicated = _duplicated_ids(
        await _read_committed(bootstrap, topics.claim_payments)
    )
    for topic in (topics.status_check_requests, topics.attachment_requests):
        report.followup_commands[topic] = _duplicated_ids(await _read_committed(bootstrap, topic))
    integrex = await watch.submissions("integrex")
    availity = await watch.submissions("availity")
    for table in ("status_checks", "attachment_submissions"):
        with contextlib.suppress(Exception):  # a follow-up table renamed: the figure is left out
            report.followup_states[table] = await watch.states(table)
    report.integrex_claims = len(integrex)
    report.availity_claims = len({key.rsplit("-", 1)[0] for key in availity})
    report.integrex_submissions = sum(integrex.values())
    report.integrex_submitted_twice = sum(1 for n in integrex.values() if n > 1)
    report.availity_submissions = sum(availity.values())
    report.availity_submitted_twice = sum(1 for n in availity.values() if n > 1)
    report.start_up_exits = stack.start_up_exits
    report.load_average = os.getloadavg()


def run_soak(options: SoakOptions) -> SoakReport:
    """Start the stack, play the schedule under steady traffic, drain, and count."""
    report = SoakReport(
        started=datetime.now(UTC),
        seconds=options.seconds,
        rate=options.rate,
        database=options.database,
        claims_per_webhook=0,
    )
    stack = _SoakStack(options)
    sender = _Sender(stack.webhook_url, f"K{uuid.uuid4().hex[:6].upper()}", report)
    report.claims_per_webhook = len(sender.claim_numbers(0))

    def prepare() -> None:
        planned = int(options.seconds * options.rate) + 2
        claims = options.state_dir / "soak-claims.csv"
        claims.write_text(sender.claims_csv(planned))
        stack.run("claims", "import", str(claims))
        seed_demo_documents(
            Path(stack.env["CLAIMFLOW_HANDLERS__DOCUMENT_STORE"]),
            [n for i in range(planned) for n in sender.claim_numbers(i)],
        )

    try:
        print(f"soak: starting the stack under {options.state_dir}", flush=True)
        began = time.monotonic()
        stack.start(prepare)
        print(f"soak: stack up, claims imported, in {time.monotonic() - began:.0f} s", flush=True)
        sender.token = stack.token
        asyncio.run(_soak(options, stack, sender, report))
    finally:
        stack.stop()
    return report


@contextlib.contextmanager
def _state_dir(given: str | None) -> Iterator[Path]:
    if given:
        yield Path(given)
        return
    from claimflow.devstack.cli import state_dir

    root = state_dir() / f"soak-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    yield root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m claimflow.devstack.soak",
        description="Run the whole stack under steady webhooks and faults; print the figures.",
        epilog="example: python -m claimflow.devstack.soak --minutes 10 --database postgresql",
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="Sending time (default 10).")
    parser.add_argument("--rate", type=float, default=2.0, help="Webhooks per second (2).")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument(
        "--drain-seconds", type=float, default=180.0, help="Longest wait for the stack to drain."
    )
    parser.add_argument("--state-dir", default=None, help="Where logs and data go.")
    parser.add_argument("--json", default=None, help="Also write the figures to this JSON file.")
    args = parser.parse_args(argv)
    with _state_dir(args.state_dir) as root:
        options = SoakOptions(
            state_dir=root,
            seconds=args.minutes * 60,
            rate=args.rate,
            database=args.database,
            drain_seconds=args.drain_seconds,
        )
        report = run_soak(options)
    print()
    print(report.table())
    if args.json:
        Path(args.json).write_text(json.dumps(_as_json(report), indent=2, default=str))
    problems = report.violations()
    for problem in problems:
        print(f"soak: VIOLATION: {problem}")
    print(f"soak: logs under {root / 'logs'}")
    return 1 if problems else 0


def _as_json(report: SoakReport) -> dict[str, Any]:
    return {
        "table": report.table(),
        "violations": report.violations(),
        "answers": dict(report.answers),
        "ack_p50": _percentile(report.ack_latencies, 50),
        "ack_p99": _percentile(report.ack_latencies, 99),
        "faults": [(f.name, f.at, f.recovered_after) for f in report.faults],
    }


if __name__ == "__main__":
    sys.exit(main())
