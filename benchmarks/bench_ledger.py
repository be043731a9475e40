"""The claims ledger: matched claim payments per second, on SQLite and on PostgreSQL.

For each database: a fresh ledger (Alembic migrations), 10,000 claims added in one
transaction (as ``claimflow claims import`` does), then one Claim.PaymentBatch of 10,000
claim payments (the Redox sample, grown; every 20th claim denied, which decides a status
check) posted one message per database transaction, exactly as the ledger handler does it:
receipt, reconcile, match, post, timeline, reconciliation result and commands into the
outbox. Kafka is left out (publishing the outbox is the runtime's and the broker's cost).

Done when every payment is matched by its claim number, the claims' totals equal the
payments, and the transaction check ran once. PostgreSQL is a local server started here
(``fsync=off``, loopback), so its numbers are for comparing, not for capacity planning.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import shutil
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from claimflow.devstack.kafka import free_port
from claimflow.devstack.postgres import LocalPostgres
from claimflow.settings import DatabaseSettings
from handlers.followup.rules import load_rules
from handlers.ledger.database import create_engine, upgrade
from handlers.ledger.intake import NewClaim
from handlers.ledger.posting import Poster
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import AppliedPayment, Claim, FollowUp, TransactionResult
from router.messages import ClaimPaymentMessage, split_payment_batch
from router.redox import PaymentBatch

CLAIMS = 10_000
SAMPLE = Path(__file__).parents[1] / "tests" / "fixtures" / "redox-claim-paymentbatch.json"
REPORT = Path(__file__).parents[1] / "docs" / "performance.md"
BEGIN, END = "<!-- bench_ledger:begin -->", "<!-- bench_ledger:end -->"


def _batch() -> PaymentBatch:
    sample: dict[str, Any] = json.loads(SAMPLE.read_text())
    transaction = sample["Transactions"][0]
    template = transaction["Payments"][0]
    payments = []
    for index in range(CLAIMS):
        payment = copy.deepcopy(template)
        claim = payment["Claims"][0]
        claim["SubmissionNumber"] = f"BENCH-{index:06d}"
        claim["ControlNumber"] = f"PCN{index:09d}"
        if index % 20 == 0:
            claim["Status"] = "Denied"
            claim["PaymentAmount"] = "0.00"
            claim["PatientResponsibilityAmount"] = "0.00"
            claim["Services"][0]["PaymentAmount"] = "0.00"
            claim["Services"][0]["Adjustments"] = [
                {"Amount": "100.00", "Type": "Contractual obligations", "Reason": "29"}
            ]
        payments.append(payment)
    transaction["Payments"] = payments
    paid = sum(Decimal(p["Claims"][0]["PaymentAmount"]) for p in payments)
    transaction["TotalPaymentAmount"] = str(paid)
    return PaymentBatch.model_validate(sample)


async def _measure(url: str, messages: list[ClaimPaymentMessage]) -> dict[str, float]:
    engine = create_engine(DatabaseSettings(url=SecretStr(url)))
    try:
        await upgrade(engine)
        ledger = ClaimLedger(engine)
        poster = Poster(rules=load_rules())
        started = time.perf_counter()
        async with ledger.unit() as unit:
            for index in range(CLAIMS):
                new = NewClaim(claim_number=f"BENCH-{index:06d}", charged_amount=Decimal("100.00"))
                await poster.add_claim(unit, new, source="benchmark")
        imported = time.perf_counter() - started
        started = time.perf_counter()
        for message in messages:
            async with ledger.unit() as unit:
                await poster.post_payment(unit, message)
        posted = time.perf_counter() - started
        matched = await ledger.count(
            AppliedPayment, AppliedPayment.match_method == "submission_number"
        )
        paid = sum((m.claim.payment_amount or Decimal(0) for m in messages), Decimal(0))
        async with ledger.unit() as unit:
            claims = await unit.claims_by_number(
                [m.claim.submission_number or "" for m in messages]
            )
        ok = (
            matched == CLAIMS
            and sum((c.paid_amount for c in claims.values()), Decimal(0)) == paid
            and await ledger.count(TransactionResult) == 1
            and await ledger.count(Claim) == CLAIMS
        )
        return {
            "ok": float(ok),
            "import_per_second": CLAIMS / imported,
            "matched_per_second": matched / posted,
            "seconds": posted,
            "follow_ups": float(await ledger.count(FollowUp)),
        }
    finally:
        await engine.dispose()


def _report(results: dict[str, dict[str, float]]) -> str:
    lines = [
        BEGIN,
        "## Claims ledger (`benchmarks/bench_ledger.py`)",
        "",
        f"One PaymentBatch of {CLAIMS:,} claim payments against {CLAIMS:,} claims, one database",
        "transaction per claim payment as the ledger handler does it (receipt, reconcile, match,",
        "post, timeline, reconciliation result and follow-up commands into the outbox; Kafka",
        "publishing excluded). Run: `.venv/bin/python -m benchmarks --only ledger`.",
        "",
        "| database | matched claim payments/s | time for 10,000 | claims imported/s "
        "| follow-ups |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['matched_per_second']:,.0f} | {r['seconds']:.1f} s "
            f"| {r['import_per_second']:,.0f} | {r['follow_ups']:.0f} |"
        )
    lines += [
        "",
        "SQLite: a file in a temporary directory (WAL, `synchronous=FULL`: every commit is an",
        "fsync, because the runtime commits the Kafka offset once the handler returns).",
        "PostgreSQL: a local server on loopback with `fsync=off`, started by the benchmark.",
        "A claim payment costs about 17 SQL statements and one commit; the rest is Python",
        "(SQLAlchemy ORM, pydantic). One process, one connection at a time; the handler runs",
        "partitions concurrently on PostgreSQL (SQLite: one writer).",
        f"Machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end of the "
        "run (other test suites share it); numbers are for comparing, not capacity planning.",
        END,
    ]
    return "\n".join(lines)


def _write(section: str) -> None:
    text = REPORT.read_text() if REPORT.exists() else "# Performance\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    REPORT.write_text(text)


def run() -> int:
    batch = _batch()
    messages = [
        ClaimPaymentMessage.model_validate_json(m.value)
        for m in split_payment_batch(batch, log_id="bench-ledger")
    ]
    root = Path(tempfile.mkdtemp(prefix="claimflow-bench-ledger-"))
    root.chmod(0o755)
    results: dict[str, dict[str, float]] = {}
    server = LocalPostgres(state_dir=root / "pg", port=free_port())
    try:
        results["SQLite"] = asyncio.run(
            _measure(f"sqlite+aiosqlite:///{root / 'ledger.db'}", messages)
        )
        server.start()
        results["PostgreSQL"] = asyncio.run(_measure(server.url, messages))
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    for name, r in results.items():
        print(
            f"{name}: {r['matched_per_second']:,.0f} matched claim payments/s "
            f"({CLAIMS:,} in {r['seconds']:.1f} s); import {r['import_per_second']:,.0f} claims/s"
        )
    _write(_report(results))
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(run())
