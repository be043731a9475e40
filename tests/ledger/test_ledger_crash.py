"""The ledger handler killed mid-batch and restarted: no effect lost or doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from claimflow.devstack.kafka import KafkaBroker
from handlers.ledger.database import create_engine, upgrade
from handlers.ledger.followup_rules import load_rules
from handlers.ledger.posting import Poster
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import (
    AppliedPayment,
    Claim,
    FollowUp,
    OutboxMessage,
    PaymentReceipt,
    TransactionResult,
)
from router.messages import split_payment_batch
from router.redox import PaymentBatch
from tests.ledger.corpus import CO, adj, batch, claim, ledger_claim, service
from tests.ledger.kafka_support import (
    create_ledger_topics,
    eventually,
    ledger_env,
    ledger_settings,
    private_lane,
    produce,
    read_all,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

CLAIMS = 1500
"""Several polls' worth (a poll is at most 500 records): the batches of the first poll commit
together, and the kill lands after them, before the last poll's."""


def _denied(number: str) -> dict[str, Any]:
    return claim(
        number,
        status="Denied",
        paid="0.00",
        patient="0.00",
        services=[service("100.00", "0.00", adj("100.00", CO, "29"))],
    )


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "claimflow.cli", "handle", "ledger"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(process: subprocess.Popen[bytes], sig: int) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    return process.wait(timeout=60)


async def test_a_ledger_killed_mid_batch_and_restarted_neither_loses_nor_doubles_effects(
    kafka_broker: KafkaBroker, ledger_url: str, tmp_path: Path
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topics = private_lane()
    await create_ledger_topics(bootstrap, topics)
    settings = ledger_settings(bootstrap, topics, ledger_url)
    numbers = [f"CRASH-{i:04d}" for i in range(CLAIMS)]
    payments = [_denied(n) if i % 10 == 0 else claim(n) for i, n in enumerate(numbers)]
    payload = batch("crash-delivery", *payments)
    messages = split_payment_batch(PaymentBatch.model_validate(payload), log_id="crash-delivery")
    engine = create_engine(settings.database)
    ledger = ClaimLedger(engine)
    env = {**os.environ, **ledger_env(bootstrap, topics, ledger_url)}
    log = tmp_path / "ledger.log"
    try:
        await upgrade(engine)
        poster = Poster(rules=load_rules())
        async with ledger.unit() as unit:
            for number in numbers:
                await poster.add_claim(unit, ledger_claim(number), source="crash test")
        await produce(bootstrap, topics.claim_payments, messages)

        first = _start(env, log)
        try:
            await eventually(lambda: _at_least(ledger, PaymentReceipt, 30), within=120)
        finally:
            _stop(first, signal.SIGKILL)
        assert await ledger.count(PaymentReceipt) < CLAIMS, "the kill should land mid-batch"

        second = _start(env, log)
        try:
            await eventually(lambda: _at_least(ledger, PaymentReceipt, CLAIMS), within=180)
            await eventually(lambda: _outbox_empty(ledger), within=60)
        finally:
            assert _stop(second, signal.SIGTERM) == 0, log.read_text()[-2000:]

        assert await ledger.count(PaymentReceipt) == CLAIMS
        assert await ledger.count(AppliedPayment) == CLAIMS
        assert await ledger.count(TransactionResult) == 1
        assert await ledger.count(Claim, Claim.status == "paid_in_full") == CLAIMS - CLAIMS // 10
        assert await ledger.count(Claim, Claim.status == "denied") == CLAIMS // 10
        assert await ledger.count(FollowUp) == CLAIMS // 10

        results = await read_all(bootstrap, topics.reconciliations)
        ids = {dict(r.headers)["claimflow-message-id"] for r in results}
        assert len(ids) == CLAIMS + 1  # one per claim payment, one for the transaction
        commands = await read_all(bootstrap, topics.status_check_requests)
        command_ids = {json.loads(c.value)["command_id"] for c in commands}
        assert len(command_ids) == CLAIMS // 10
    finally:
        await engine.dispose()


async def _at_least(ledger: ClaimLedger, table: type[Any], n: int) -> bool:
    return await ledger.count(table) >= n


async def _outbox_empty(ledger: ClaimLedger) -> bool:
    return await ledger.count(OutboxMessage, OutboxMessage.sent_at.is_(None)) == 0
