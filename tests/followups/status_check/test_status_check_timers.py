"""Durable timers: the status-check handler never waits on Integrex while it holds a partition.

Real broker, the Integrex sandbox over HTTP answering 202 for a while (``pending_seconds``: the
"minutes" of a real Integrex, shortened so the tests take about a minute), SQLite for the
single-process run and PostgreSQL for two replicas polling one table.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from followup_support import (
    Kafka,
    Sandbox,
    eventually,
    integrex_settings,
    make_settings,
    prepare_database,
    status_check,
    unique_topics,
)
from pydantic import SecretStr

from claimflow.settings import DatabaseSettings
from handlers.followups.partners.integrex import IntegrexRateLimitedError
from handlers.followups.state.schedule import failure_delay
from handlers.followups.status_check import build_status_check_handler
from handlers.followups.status_check.store import StatusCheckStore
from handlers.ledger.database import create_engine
from handlers.runtime import RunningHandler, running_handler
from handlers.runtime.runner import consumer_group
from router.followups import StatusCheckRequest, StatusCheckResult
from router.topics import HEADERS, TopicSet

pytestmark = [pytest.mark.kafka]

# aiokafka's default: a member must rejoin within this long after a rebalance starts.
REBALANCE_TIMEOUT_SECONDS = 10.0


@asynccontextmanager
async def status_checks(
    kafka: Kafka,
    topics: TopicSet,
    url: str,
    sandbox: Sandbox,
    tmp_path: Path,
    *,
    followups: dict[str, Any] | None = None,
    **integrex: Any,
) -> AsyncIterator[RunningHandler]:
    settings = make_settings(
        bootstrap=kafka.bootstrap,
        topics=topics,
        database_url=url,
        documents=tmp_path,
        integrex=integrex_settings(sandbox.url, **integrex),
        followups=followups,
    )
    async with running_handler(settings, build_status_check_handler) as running:
        yield running


async def send_all(kafka: Kafka, topic: str, commands: list[StatusCheckRequest]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sent = [
            await producer.send(
                topic,
                key=c.claim.submission_number.encode(),
                value=c.model_dump_json(by_alias=True).encode(),
                headers=[
                    (HEADERS.MESSAGE_ID, c.command_id.encode()),
                    (HEADERS.SCHEMA, c.schema_name.encode()),
                ],
            )
            for c in commands
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def request_lag(kafka: Kafka, topics: TopicSet, topic: str, sent: int) -> int:
    """Messages on ``topic`` (a fresh topic holding ``sent``) the handler has not committed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(
            consumer_group("status-check", topics.lane)
        )
    finally:
        await admin.close()
    return sent - sum(meta.offset for tp, meta in committed.items() if tp.topic == topic)


async def results_by_command(kafka: Kafka, topics: TopicSet) -> Counter[str]:
    records = await kafka.models(topics.status_check_results, StatusCheckResult)
    return Counter(r.command_id for r in records)


async def test_a_thousand_slow_inquiries_leave_no_lag_and_each_completes_once(
    kafka: Kafka, topics: TopicSet, sqlite_url: str, integrex_sandbox: Sandbox, tmp_path: Path
) -> None:
    await prepare_database(sqlite_url)
    # Integrex answers 202 for a while after each inquiry ("minutes" in production).
    await integrex_sandbox.configure(pending_seconds=10, category_code="F1", status_code="65")
    commands = [status_check() for _ in range(1000)]
    async with status_checks(
        kafka,
        topics,
        sqlite_url,
        integrex_sandbox,
        tmp_path,
        requests_per_second=5000,
        poll_interval_seconds=4,
        poll_max_interval_seconds=8,
        poll_deadline_seconds=900,
    ):
        await send_all(kafka, topics.status_check_requests, commands)

        async def caught_up() -> bool:
            return await request_lag(kafka, topics, topics.status_check_requests, 1000) == 0

        await eventually(caught_up, within=120)
        # Every command's offset is committed while Integrex has answered none of them.
        answered_so_far = (await integrex_sandbox.responses("claim_info.fetch")).get("200", 0)
        assert answered_so_far < len(commands)

        async def all_answered() -> bool:
            return len(await results_by_command(kafka, topics)) == len(commands)

        await eventually(all_answered, within=300)
        assert await request_lag(kafka, topics, topics.status_check_requests, 1000) == 0

    per_command = await results_by_command(kafka, topics)
    assert set(per_command) == {c.command_id for c in commands}
    assert set(per_command.values()) == {1}, "each inquiry completes once"
    submissions = await integrex_sandbox.submissions()
    assert submissions == {c.claim.submission_number: 1 for c in commands}


@pytest.mark.postgres
async def test_a_rebalance_while_a_hundred_polls_are_pending_completes_in_time(
    kafka: Kafka, postgres_url: str, integrex_sandbox: Sandbox, tmp_path: Path
) -> None:
    topics = unique_topics(lane="test")
    await kafka.create_topics(topics, ("status-check",))
    await prepare_database(postgres_url)
    await integrex_sandbox.configure(pending_seconds=3600, category_code="F1", status_code="65")
    commands = [status_check(test=True) for _ in range(100)]
    options: dict[str, Any] = {
        "followups": {"concurrency": 20},
        "requests_per_second": 5000,
        "poll_interval_seconds": 0.5,
        "poll_max_interval_seconds": 1,
        "poll_deadline_seconds": 900,
    }
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(
            status_checks(kafka, topics, postgres_url, integrex_sandbox, tmp_path, **options)
        )
        await send_all(kafka, topics.status_check_requests, commands)

        async def all_polling() -> bool:
            submitted = (await integrex_sandbox.submissions()).values()
            polls = (await integrex_sandbox.responses("claim_info.fetch")).get("202", 0)
            return sum(submitted) == len(commands) and polls >= len(commands)

        await eventually(all_polling, within=90)
        second = await stack.enter_async_context(
            status_checks(kafka, topics, postgres_url, integrex_sandbox, tmp_path, **options)
        )
        # The group settles (both members assigned) well within the rebalance timeout: no
        # member holds its partitions while a partner call is in flight.
        await eventually(
            lambda: first.runner.ready() and second.runner.ready(),
            within=REBALANCE_TIMEOUT_SECONDS,
        )
        await integrex_sandbox.configure(pending_seconds=0)

        async def all_answered() -> bool:
            return len(await results_by_command(kafka, topics)) == len(commands)

        await eventually(all_answered, within=120)

    per_command = await results_by_command(kafka, topics)
    assert set(per_command.values()) == {1}
    assert await integrex_sandbox.submissions() == {c.claim.submission_number: 1 for c in commands}


async def test_at_the_daily_budget_requests_wait_as_timers_and_the_budget_left_is_exposed(
    kafka: Kafka, topics: TopicSet, sqlite_url: str, integrex_sandbox: Sandbox, tmp_path: Path
) -> None:
    await prepare_database(sqlite_url)
    await integrex_sandbox.configure(pending_polls=5)
    commands = [status_check(), status_check()]
    async with status_checks(
        kafka, topics, sqlite_url, integrex_sandbox, tmp_path, daily_request_limit=3
    ) as running:
        for command in commands:
            await kafka.send_command(topics.status_check_requests, command)

        async def budget_spent() -> bool:
            stats = await integrex_sandbox.responses("claim_info.fetch")
            return sum((await integrex_sandbox.submissions()).values()) + sum(stats.values()) >= 3

        await eventually(budget_spent, within=30)
        await asyncio.sleep(1.0)  # the poller keeps looking: nothing more may be sent
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{running.health.port}") as http:
            metrics = (await http.get("/metrics")).text

    sent = sum((await integrex_sandbox.submissions()).values()) + sum(
        (await integrex_sandbox.responses("claim_info.fetch")).values()
    )
    assert sent == 3, "no call past the day's budget"
    assert 'claimflow_partner_budget_remaining{partner="integrex",window="day"} 0.0' in metrics
    assert 'claimflow_partner_budget_limit{partner="integrex",window="day"} 3.0' in metrics
    assert await kafka.read(topics.status_check_results) == [], "waiting, not dropped"
    engine = create_engine(DatabaseSettings(url=SecretStr(sqlite_url)))
    try:
        store = StatusCheckStore(engine)
        assert await store.outstanding("production") == 2
    finally:
        await engine.dispose()


def test_a_429s_retry_after_is_the_floor_of_the_timers_next_wait() -> None:
    error = IntegrexRateLimitedError("429", status_code=429, retry_after=30)
    assert failure_delay(1, error, base=0.001, longest=0.01) >= 30
    assert failure_delay(9, IntegrexRateLimitedError("429"), base=0.5, longest=15) <= 15
