"""The claims ledger: matched claim payments per second, on SQLite and on PostgreSQL.

For each database, a fresh ledger (Alembic migrations), then in one run:

1. ``claims import``: 10,500 claims from a CSV file, streamed and inserted in bulk (claims/s);
2. the batch path: one Claim.PaymentBatch of 10,000 claim payments (the Redox sample, grown;
   every 20th claim denied, which decides a status check) through ``LedgerHandler.handle_batch``
   in polls of 500, exactly as the runtime hands a partition's records to the handler: parse,
   one transaction per poll, then the outbox relay (to a publisher that drops the messages:
   Kafka is left out, it is the runtime's and the broker's cost);
3. today's per-message path, for the ratio: 500 more claim payments (another delivery) through
   ``LedgerHandler.handle``, one transaction each, in the same run;
4. the batch path of one process owning ``CLAIMFLOW_BENCH_LEDGER_PARTITIONS`` partitions
   (default 4) at once, as the runtime runs them: another delivery, split by the claims' keys.

Done when every payment is matched by its claim number, the claims' totals equal the payments,
each delivery's transaction check ran once, and the batch path reaches 2,000 matched claim
payments/s on PostgreSQL and 1,500/s on SQLite (the best of a database's figures: one
partition, several partitions in one process, replicas). PostgreSQL is a local server started
here with ``fsync=on`` (``CLAIMFLOW_BENCH_PG_FSYNC_OFF=1`` adds a run with ``fsync=off``).

Memory (``CLAIMFLOW_BENCH_LEDGER_REMITTANCE``, default 100,000 claims; 0 skips it): a
remittance file of that many claims, with its claims file, goes through ``claimflow claims
import`` and ``claimflow ledger post`` (SQLite), each in its own process; their peak RSS is
reported (both stream their files in chunks).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from claimflow.devstack.kafka import free_port
from claimflow.devstack.postgres import LocalPostgres
from claimflow.logging import configure_logging
from claimflow.settings import LoggingSettings, Settings
from handlers.ledger.cli import import_claims
from handlers.ledger.database import create_engine, upgrade
from handlers.ledger.handler import LedgerHandler
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import AppliedPayment, Claim, FollowUp, TransactionResult
from handlers.runtime import InboundMessage
from handlers.runtime.process import settle_heap
from router.messages import SplitMessage, split_payment_batch
from router.redox import PaymentBatch
from router.topics import HEADERS, TopicSet

CLAIMS = int(os.environ.get("CLAIMFLOW_BENCH_LEDGER_CLAIMS", "10000"))
REPLICAS = int(os.environ.get("CLAIMFLOW_BENCH_LEDGER_REPLICAS", "2"))
"""Handler processes of the replica figure (PostgreSQL only; 0 or 1 skips it)."""
PARTITIONS = int(os.environ.get("CLAIMFLOW_BENCH_LEDGER_PARTITIONS", "4"))
"""Partitions one process posts at once in the partitions figure (0 or 1 skips it)."""
BASELINE = 500
POLL = 500
SAMPLE = Path(__file__).parents[1] / "tests" / "fixtures" / "redox-claim-paymentbatch.json"
REPORT = Path(__file__).parents[1] / "docs" / "performance.md"
BEGIN, END = "<!-- bench_ledger:begin -->", "<!-- bench_ledger:end -->"
TARGETS = {"SQLite": 1_500.0, "PostgreSQL": 2_000.0}
_NULL = open(os.devnull, "w")  # noqa: SIM115 - the log stream of the whole run


def _payment(template: dict[str, Any], number: str, index: int) -> dict[str, Any]:
    payment = copy.deepcopy(template)
    claim = payment["Claims"][0]
    claim["SubmissionNumber"] = number
    claim["ControlNumber"] = f"PCN{number}"
    if index % 20 == 0:
        claim["Status"] = "Denied"
        claim["PaymentAmount"] = "0.00"
        claim["PatientResponsibilityAmount"] = "0.00"
        claim["Services"][0]["PaymentAmount"] = "0.00"
        claim["Services"][0]["Adjustments"] = [
            {"Amount": "100.00", "Type": "Contractual obligations", "Reason": "29"}
        ]
    return payment


def _batch(numbers: list[str], log_id: str) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads(SAMPLE.read_text())
    sample["Meta"]["Logs"] = [{"ID": log_id, "AttemptID": f"{log_id}-1"}]
    transaction = sample["Transactions"][0]
    template = transaction["Payments"][0]
    payments = [_payment(template, n, i) for i, n in enumerate(numbers)]
    transaction["Payments"] = payments
    paid = sum(Decimal(p["Claims"][0]["PaymentAmount"]) for p in payments)
    transaction["TotalPaymentAmount"] = str(paid)
    return sample


def _inbound(topics: TopicSet, split: list[SplitMessage]) -> list[InboundMessage]:
    return [
        InboundMessage(
            topic=topics.claim_payments,
            partition=0,
            offset=i,
            key=m.key.encode(),
            value=m.value,
            headers={HEADERS.MESSAGE_ID: m.message_id.encode()},
            message_id=m.message_id,
        )
        for i, m in enumerate(split)
    ]


class _Dropped:
    """The publisher the outbox relay sees: Kafka is not part of this benchmark."""

    async def publish(
        self, topic: str, *, key: bytes | None, value: bytes, headers: Mapping[str, bytes]
    ) -> None:
        return None


async def _measure(url: str, root: Path) -> dict[str, float]:
    settings = Settings.model_validate({"database": {"url": url}})
    topics = TopicSet()
    batch_numbers = [f"BENCH-{i:06d}" for i in range(CLAIMS)]
    single_numbers = [f"SINGLE-{i:06d}" for i in range(BASELINE)]
    claims_file = root / "claims.csv"
    with claims_file.open("w") as out:
        out.write("claim_number,charged_amount\n")
        for number in batch_numbers + single_numbers:
            out.write(f"{number},100.00\n")
    batch = PaymentBatch.model_validate(_batch(batch_numbers, "bench-batch"))
    single = PaymentBatch.model_validate(_batch(single_numbers, "bench-single"))
    batched = _inbound(topics, split_payment_batch(batch, log_id="bench-batch"))
    one_by_one = _inbound(topics, split_payment_batch(single, log_id="bench-single"))
    engine = create_engine(settings.database)
    try:
        await upgrade(engine)  # as `claimflow db upgrade` does: the handler never migrates it
    finally:
        await engine.dispose()
    handler = LedgerHandler(settings=settings, topics=topics, publisher=_Dropped())
    await handler.start()
    settle_heap()  # as ``claimflow handle`` does once its handler has started
    try:
        started = time.perf_counter()
        assert await import_claims(settings, claims_file, echo=lambda _: None) == 0
        imported = time.perf_counter() - started

        started, cpu = time.perf_counter(), time.process_time()
        for start in range(0, CLAIMS, POLL):
            outcomes = await handler.handle_batch(batched[start : start + POLL])
            assert all(o is None for o in outcomes), outcomes
        posted, posted_cpu = time.perf_counter() - started, time.process_time() - cpu

        started = time.perf_counter()
        for message in one_by_one:
            await handler.handle(message)
        single_seconds = time.perf_counter() - started

        ledger = ClaimLedger(handler._engine)  # type: ignore[arg-type] # started above
        matched = await ledger.count(
            AppliedPayment, AppliedPayment.match_method == "submission_number"
        )
        expected = sum(
            (
                c.payment_amount or Decimal(0)
                for t in batch.transactions
                for p in t.payments
                for c in p.claims
            ),
            Decimal(0),
        )
        async with ledger.unit() as unit:
            claims = await unit.claims_by_number(batch_numbers)
        ok = (
            matched == CLAIMS + BASELINE
            and sum((c.paid_amount for c in claims.values()), Decimal(0)) == expected
            and await ledger.count(TransactionResult) == 2
            and await ledger.count(Claim) == CLAIMS + BASELINE
        )
        return {
            "ok": float(ok),
            "import_per_second": (CLAIMS + BASELINE) / imported,
            "matched_per_second": CLAIMS / posted,
            "cpu_ms_per_payment": 1000 * posted_cpu / CLAIMS,
            "seconds": posted,
            "single_per_second": BASELINE / single_seconds,
            "follow_ups": float(await ledger.count(FollowUp)),
        }
    finally:
        await handler.stop()


def _replica_messages(topics: TopicSet, replica: int, replicas: int) -> list[InboundMessage]:
    """The replica's share of the replica run's PaymentBatch: the claims of its partitions.

    Claims are split by a stable hash of their Kafka key, as the producer's partitioner
    splits them; each replica owns the partitions ``p`` with ``p % replicas == replica`` of
    ``replicas * 2`` partitions, so no claim is posted by both."""
    numbers = [f"REPLICA-{i:06d}" for i in range(CLAIMS)]
    batch = PaymentBatch.model_validate(_batch(numbers, "bench-replicas"))
    split = split_payment_batch(batch, log_id="bench-replicas")
    mine = [m for m in split if zlib.crc32(m.key.encode()) % (replicas * 2) % replicas == replica]
    return _inbound(topics, mine)


def _replica(url: str, replica: int, replicas: int, go: Any, results: Any) -> None:
    """One handler process of the replica run: its share through ``handle_batch``."""
    configure_logging(LoggingSettings(format="json"), stream=_NULL)

    async def work() -> tuple[int, float, float]:
        settings = Settings.model_validate({"database": {"url": url}})
        topics = TopicSet()
        messages = _replica_messages(topics, replica, replicas)
        handler = LedgerHandler(settings=settings, topics=topics, publisher=_Dropped())
        await handler.start()
        settle_heap()
        try:
            results.put(("ready", replica, 0.0, 0.0))
            await asyncio.to_thread(go.wait)  # every replica has started before the clock runs
            cpu = time.process_time()
            for start in range(0, len(messages), POLL):
                outcomes = await handler.handle_batch(messages[start : start + POLL])
                assert all(o is None for o in outcomes), outcomes
            return len(messages), time.perf_counter(), time.process_time() - cpu
        finally:
            await handler.stop()

    count, ended, cpu = asyncio.run(work())
    results.put(("done", count, ended, cpu))


async def _import_replica_claims(url: str, root: Path) -> None:
    settings = Settings.model_validate({"database": {"url": url}})
    claims_file = root / "replica-claims.csv"
    with claims_file.open("w") as out:
        out.write("claim_number,charged_amount\n")
        for i in range(CLAIMS):
            out.write(f"REPLICA-{i:06d},100.00\n")
    assert await import_claims(settings, claims_file, echo=lambda _: None) == 0


async def _replica_check(url: str) -> bool:
    settings = Settings.model_validate({"database": {"url": url}})
    engine = create_engine(settings.database)
    try:
        ledger = ClaimLedger(engine)
        matched = await ledger.count(AppliedPayment, AppliedPayment.message_id.in_(_replica_ids()))
        checked = await ledger.count(
            TransactionResult, TransactionResult.delivery_id == "bench-replicas"
        )
        return matched == CLAIMS and checked == 1
    finally:
        await engine.dispose()


def _replica_ids() -> list[str]:
    topics = TopicSet()
    return [m.message_id or "" for m in _replica_messages(topics, 0, 1)]


def _measure_replicas(url: str, root: Path) -> dict[str, float]:
    """The batch path run by ``REPLICAS`` handler processes on disjoint partitions of one
    delivery, against the same database, as replicas of the consumer group would run it
    (after the one-process run, on the same ledger: its own claims and delivery)."""
    asyncio.run(_import_replica_claims(url, root))
    spawn = multiprocessing.get_context("spawn")
    go, results = spawn.Event(), spawn.Queue()
    workers = [
        spawn.Process(target=_replica, args=(url, r, REPLICAS, go, results))
        for r in range(REPLICAS)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        assert results.get(timeout=300)[0] == "ready"
    started = time.perf_counter()
    go.set()
    done = [results.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    ended = max(d[2] for d in done)
    posted = sum(int(d[1]) for d in done)
    ok = posted == CLAIMS and all(w.exitcode == 0 for w in workers)
    return {
        "ok": float(ok and asyncio.run(_replica_check(url))),
        "replicas": float(REPLICAS),
        "matched_per_second": posted / (ended - started),
        "cpu_ms_per_payment": 1000 * sum(d[3] for d in done) / posted,
        "seconds": ended - started,
    }


async def _measure_partitions(url: str, root: Path) -> dict[str, float]:
    """The batch path of ONE handler process that owns ``PARTITIONS`` partitions, as the
    runtime runs it: a worker per partition, each handing its partition's polls to
    ``handle_batch`` one after another, the workers at once (on PostgreSQL each unit has its
    own connection, so one partition's Python work overlaps another's wait for the server; on
    SQLite units take turns, and only parsing and the relay overlap). Its own delivery and
    claims, after the other runs, on the same ledger."""
    settings = Settings.model_validate({"database": {"url": url}})
    topics = TopicSet()
    numbers = [f"PART-{i:06d}" for i in range(CLAIMS)]
    claims_file = root / "partition-claims.csv"
    with claims_file.open("w") as out:
        out.write("claim_number,charged_amount\n")
        for number in numbers:
            out.write(f"{number},100.00\n")
    batch = PaymentBatch.model_validate(_batch(numbers, "bench-partitions"))
    split = split_payment_batch(batch, log_id="bench-partitions")
    owned: list[list[InboundMessage]] = [[] for _ in range(PARTITIONS)]
    for message in _inbound(topics, split):
        partition = zlib.crc32(message.key or b"") % PARTITIONS
        owned[partition].append(dataclasses.replace(message, partition=partition))
    handler = LedgerHandler(settings=settings, topics=topics, publisher=_Dropped())
    await handler.start()
    settle_heap()
    try:
        assert await import_claims(settings, claims_file, echo=lambda _: None) == 0

        async def worker(messages: list[InboundMessage]) -> None:
            for start in range(0, len(messages), POLL):
                outcomes = await handler.handle_batch(messages[start : start + POLL])
                assert all(o is None for o in outcomes), outcomes

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(messages) for messages in owned))
        posted, posted_cpu = time.perf_counter() - started, time.process_time() - cpu
        ledger = ClaimLedger(handler._engine)  # type: ignore[arg-type] # started above
        matched = await ledger.count(
            AppliedPayment, AppliedPayment.message_id.in_([m.message_id for m in split])
        )
        checked = await ledger.count(
            TransactionResult, TransactionResult.delivery_id == "bench-partitions"
        )
        return {
            "ok": float(matched == CLAIMS and checked == 1),
            "partitions": float(PARTITIONS),
            "matched_per_second": CLAIMS / posted,
            "cpu_ms_per_payment": 1000 * posted_cpu / CLAIMS,
            "seconds": posted,
        }
    finally:
        await handler.stop()


def _write_remittance(path: Path, claims_file: Path, count: int) -> None:
    """A ``count``-claim PaymentBatch and its claims file, written a payment at a time."""
    sample: dict[str, Any] = json.loads(SAMPLE.read_text())
    sample["Meta"]["Logs"] = [{"ID": "bench-remittance", "AttemptID": "bench-remittance-1"}]
    transaction = sample["Transactions"][0]
    template = transaction.pop("Payments")[0]
    paid = Decimal(0)
    with path.open("w") as out, claims_file.open("w") as claims:
        claims.write("claim_number,charged_amount\n")
        out.write('{"Meta": ' + json.dumps(sample["Meta"]) + ', "Transactions": [{"Payments": [')
        for index in range(count):
            number = f"REMIT-{index:07d}"
            payment = _payment(template, number, index)
            paid += Decimal(payment["Claims"][0]["PaymentAmount"])
            out.write(("," if index else "") + json.dumps(payment))
            claims.write(f"{number},100.00\n")
        transaction["TotalPaymentAmount"] = str(paid)
        header = json.dumps(transaction)[1:]  # the header's keys after Payments
        out.write("], " + header + "]}")


def _peak_rss_mib(argv: list[str], env: dict[str, str]) -> tuple[int, float, float]:
    """Run a command; its exit status, wall seconds and peak resident memory (MiB).

    The peak is the process's own high-water mark (``VmHWM``), read while it runs: the
    ``ru_maxrss`` of a child counts the parent's memory it was forked from.
    """
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    status_file = Path(f"/proc/{process.pid}/status")
    peak_kib = 0
    while process.poll() is None:
        try:
            for line in status_file.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kib = max(peak_kib, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    return process.returncode, time.perf_counter() - started, peak_kib / 1024


def _memory(root: Path, count: int) -> dict[str, float]:
    remittance, claims = root / "remittance.json", root / "remittance-claims.csv"
    _write_remittance(remittance, claims, count)
    env = {**os.environ, "CLAIMFLOW_DATABASE__URL": f"sqlite+aiosqlite:///{root / 'big.db'}"}
    cli = [sys.executable, "-m", "claimflow.cli"]
    imported = _peak_rss_mib([*cli, "claims", "import", str(claims)], env)
    posted = _peak_rss_mib([*cli, "ledger", "post", str(remittance)], env)
    return {
        "ok": float(imported[0] == 0 and posted[0] == 0),
        "claims": float(count),
        "megabytes": remittance.stat().st_size / 2**20,
        "import_seconds": imported[1],
        "import_rss": imported[2],
        "post_seconds": posted[1],
        "post_rss": posted[2],
    }


def _report(
    results: dict[str, dict[str, float]],
    partitions: dict[str, dict[str, float]],
    replicas: dict[str, dict[str, float]],
    memory: dict[str, float] | None,
) -> str:
    load = os.getloadavg()
    lines = [
        BEGIN,
        "## Claims ledger (`benchmarks/bench_ledger.py`)",
        "",
        f"Run: `make bench` or `.venv/bin/python -m benchmarks --only ledger`. Per database: "
        f"{CLAIMS + BASELINE:,} claims imported",
        f"(`claims import`, streamed, bulk INSERTs), then one PaymentBatch of {CLAIMS:,} claim "
        f"payments through the",
        f"batch path (`LedgerHandler.handle_batch`, polls of {POLL}, one transaction per poll) "
        f"and, in the same run,",
        f"{BASELINE:,} payments of another delivery through the per-message path "
        "(`LedgerHandler.handle`, one",
        "transaction each, as before this change). Parsing, receipt, reconcile, match, post,",
        "timeline, reconciliation result, follow-up commands into the outbox and the outbox relay",
        "are included; Kafka is not (the relay's publisher drops the messages).",
        "",
        "| database | batch path: matched claim payments/s | CPU ms per payment "
        "| per-message path /s | ratio | claims imported/s | follow-ups |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        ratio = r["matched_per_second"] / r["single_per_second"]
        lines.append(
            f"| {name} | {r['matched_per_second']:,.0f} | {r['cpu_ms_per_payment']:.2f} "
            f"| {r['single_per_second']:,.0f} | {ratio:.1f}x | {r['import_per_second']:,.0f} "
            f"| {r['follow_ups']:.0f} |"
        )
    if partitions:
        lines += [
            "",
            "The same process owning several partitions, as the runtime runs it (a worker per",
            "partition, each handing its polls to `handle_batch` in turn, the workers at once; "
            "its own",
            f"delivery of {CLAIMS:,} claim payments split by the claims' keys):",
            "",
            "| database | partitions | matched claim payments/s | CPU ms per payment |",
            "|---|---:|---:|---:|",
        ]
        for name, r in partitions.items():
            lines.append(
                f"| {name} | {r['partitions']:.0f} | {r['matched_per_second']:,.0f}"
                f"{'' if r['ok'] else ' (NOT every payment posted)'} "
                f"| {r['cpu_ms_per_payment']:.2f} |"
            )
    for name, r in replicas.items():
        lines += [
            "",
            f"Beside it, not instead of it: {name}, the batch path run by "
            f"{r['replicas']:.0f} handler processes",
            "at once (as replicas of the consumer group: disjoint partitions of one delivery of "
            f"{CLAIMS:,} claim",
            "payments, their own claims, the same database): "
            f"**{r['matched_per_second']:,.0f} matched claim payments/s** "
            f"({r['cpu_ms_per_payment']:.2f} ms CPU",
            "per payment, summed over the processes"
            + ("" if r["ok"] else "; NOT every payment was posted")
            + ").",
        ]
    lines += [
        "",
        "Against the targets (the best figure of each database in this run):",
        "",
        "| database | target | one process, one partition | one process, partitions at once "
        "| replicas | met |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, r in results.items():
        target = TARGETS[name.split(",")[0]]
        part, repl = partitions.get(name), replicas.get(name)
        best = max(x["matched_per_second"] for x in (r, part, repl) if x is not None)
        at_once = f"{part['matched_per_second']:,.0f}/s" if part else "-"
        by_replicas = (
            f"{repl['matched_per_second']:,.0f}/s ({repl['replicas']:.0f})" if repl else "-"
        )
        met = "yes" if best >= target else f"no ({best / target:.0%} of it)"
        lines.append(
            f"| {name} | {target:,.0f}/s | {r['matched_per_second']:,.0f}/s "
            f"| {at_once} | {by_replicas} | {met} |"
        )
    if memory is not None:
        lines += [
            "",
            f"Memory: a remittance of {memory['claims']:,.0f} claims "
            f"({memory['megabytes']:,.0f} MB of JSON), SQLite, each command its own process:",
            f"`claimflow claims import` peak RSS {memory['import_rss']:,.0f} MiB "
            f"({memory['import_seconds']:,.0f} s), `claimflow ledger post` peak RSS "
            f"{memory['post_rss']:,.0f} MiB ({memory['post_seconds']:,.0f} s).",
        ]
    cpu = min(r["cpu_ms_per_payment"] for r in results.values())
    lines += [
        "",
        "What limits it:",
        "",
        "- **Round trips, no longer.** The per-message path costs about 17 SQL statements and a",
        "  commit per payment. The batch path loads a poll's keys in about ten",
        "  set-based queries and writes each table in bulk (on PostgreSQL one binary `COPY`",
        "  per table and the claims' money in one `UPDATE ... FROM unnest(...)`; on SQLite one",
        "  `executemany` per table and for the claims' money):",
        "  about 20 statements and one commit per poll of 500; the outbox messages it published",
        "  are marked sent in the next poll's transaction, not in one of their own.",
        f"- **Python CPU per payment** ({cpu:.2f} ms at best here, i.e. about "
        f"{1000 / cpu:,.0f}/s on one free core).",
        "  Rows are plain column values written through the driver (a binary `COPY` on",
        "  PostgreSQL, `executemany` on SQLite; no ORM objects but the claims); the receipt",
        "  stores the message's own JSON; JSON columns and the receipt's fingerprint are",
        "  orjson's; a transaction's rows share its time (one conversion per column); the",
        "  follow-up rules are compiled once per rule set;",
        "  the canonical log line is one per batch (counts; each message's line at debug); key",
        "  lists go to PostgreSQL as one array (`= ANY(...)`), not an `IN` list rendered per",
        "  length; a batch's outbox messages are published from memory after its commit, not",
        "  read back; the handler process freezes its startup heap out of the garbage collector",
        "  (`settle_heap`, called here as `claimflow handle` does). What is left (py-spy and",
        "  cProfile of 4,000-8,000-payment runs on this machine): the posting rules about half",
        "  of it, spread thin (reconcile, match, classify, the claim's money per payer, the",
        "  duplicate key and fingerprint, the timeline texts, the reconciliation result and",
        "  commands as pydantic models dumped to the outbox; none above 0.05 ms), validating",
        "  the message about 0.05 ms (pydantic, a 2.6 KB message, nested Redox models), the",
        "  prefetch and the writes (each a tenth). On SQLite the handler makes its database",
        "  calls in the event loop's thread (a hop to aiosqlite's thread and back cost more",
        "  than most statements) and has the write-ahead log checkpointed by a worker thread;",
        "  SQLite's own work is then about 0.13 ms per payment, a sixth of it the commit's fsync",
        "  (`synchronous=FULL`). The targets need 0.5 ms (PostgreSQL) and",
        "  0.67 ms (SQLite) of wall time per payment in one process.",
        "- **The machine.** With the load average above, the benchmark gets a fraction of a core:",
        "  wall time is several times the CPU time, and the PostgreSQL server's own CPU (not",
        "  counted above) competes for the same two cores. The ratio of the two paths in one",
        "  run is the figure to compare.",
        "- **PostgreSQL concurrency.** The handler runs partitions concurrently, and replicas",
        "  split them. A batch counts its claims of each delivery when it has posted them (the",
        "  count that decides the transaction check), so a delivery's `deliveries` row is locked",
        "  from the end of a batch to its commit only; before, it was locked at the delivery's",
        "  first claim in the batch, and replicas posting one delivery took turns. What two",
        "  replicas gain here is bounded by the two shared cores, which the PostgreSQL server",
        "  and the other workers use too.",
        "",
        "SQLite: a file (WAL, `synchronous=FULL`). PostgreSQL: a local server on loopback "
        "started by the",
        "benchmark, `fsync=on` unless the row says otherwise. One process, one connection",
        "(the replica figure: one per process).",
        f"Machine: {os.cpu_count()} CPUs shared with other workers' test suites; load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}",
        "(1/5/15 min) at the end of the run. Compare the ratios of one run, not runs.",
        f"This run: `{_command()}`, ended {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC.",
        END,
    ]
    return "\n".join(lines)


def _command() -> str:
    """The command line of this run, with the settings it was given."""
    names = (
        "CLAIMFLOW_BENCH_LEDGER_REMITTANCE",
        "CLAIMFLOW_BENCH_LEDGER_CLAIMS",
        "CLAIMFLOW_BENCH_LEDGER_REPLICAS",
        "CLAIMFLOW_BENCH_LEDGER_PARTITIONS",
        "CLAIMFLOW_BENCH_PG_FSYNC_OFF",
    )
    settings = [f"{name}={os.environ[name]}" for name in names if name in os.environ]
    return " ".join([*settings, ".venv/bin/python -m benchmarks --only ledger"])


def _write(section: str) -> None:
    text = REPORT.read_text() if REPORT.exists() else "# Performance\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    REPORT.write_text(text)


def run() -> int:
    # The handler's canonical log line per message, rendered as in production (JSON).
    configure_logging(LoggingSettings(format="json"), stream=_NULL)
    root = Path(tempfile.mkdtemp(prefix="claimflow-bench-ledger-"))
    root.chmod(0o755)
    results: dict[str, dict[str, float]] = {}
    partitions: dict[str, dict[str, float]] = {}
    replicas: dict[str, dict[str, float]] = {}
    memory: dict[str, float] | None = None
    servers = [("PostgreSQL", True)]
    if os.environ.get("CLAIMFLOW_BENCH_PG_FSYNC_OFF") == "1":
        servers.append(("PostgreSQL, fsync=off", False))
    try:
        (root / "sqlite").mkdir()
        url = f"sqlite+aiosqlite:///{root / 'sqlite' / 'ledger.db'}"
        results["SQLite"] = asyncio.run(_measure(url, root / "sqlite"))
        if PARTITIONS > 1:
            partitions["SQLite"] = asyncio.run(_measure_partitions(url, root / "sqlite"))
        for name, fsync in servers:
            server = LocalPostgres(state_dir=root / name.replace(" ", ""), port=free_port())
            server.fsync = fsync
            server.start()
            try:
                results[name] = asyncio.run(_measure(server.url, root))
                if PARTITIONS > 1:
                    partitions[name] = asyncio.run(_measure_partitions(server.url, root))
                if REPLICAS > 1:
                    replicas[name] = _measure_replicas(server.url, root)
            finally:
                server.stop()
        count = int(os.environ.get("CLAIMFLOW_BENCH_LEDGER_REMITTANCE", "100000"))
        if count:
            memory = _memory(root, count)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for name, r in results.items():
        print(
            f"{name}: batch path {r['matched_per_second']:,.0f} matched claim payments/s "
            f"({CLAIMS:,} in {r['seconds']:.1f} s, {r['cpu_ms_per_payment']:.2f} ms CPU each); "
            f"per-message path {r['single_per_second']:,.0f}/s; "
            f"import {r['import_per_second']:,.0f} claims/s"
        )
    for name, r in partitions.items():
        print(
            f"{name}, one process, {r['partitions']:.0f} partitions at once: batch path "
            f"{r['matched_per_second']:,.0f} matched claim payments/s ({CLAIMS:,} in "
            f"{r['seconds']:.1f} s, {r['cpu_ms_per_payment']:.2f} ms CPU each)"
            f"{'' if r['ok'] else ' NOT ALL POSTED'}"
        )
    for name, r in replicas.items():
        print(
            f"{name}, {r['replicas']:.0f} handler processes (replicas, disjoint partitions, "
            f"one database): batch path {r['matched_per_second']:,.0f} matched claim "
            f"payments/s ({CLAIMS:,} in {r['seconds']:.1f} s, "
            f"{r['cpu_ms_per_payment']:.2f} ms CPU each){'' if r['ok'] else ' NOT ALL POSTED'}"
        )
    if memory is not None:
        print(
            f"remittance of {memory['claims']:,.0f} claims: import peak RSS "
            f"{memory['import_rss']:,.0f} MiB, ledger post peak RSS {memory['post_rss']:,.0f} MiB"
        )
    print(f"load average {os.getloadavg()}")
    _write(_report(results, partitions, replicas, memory))
    # A database's target is met by the ledger as it runs: the best of its figures.
    best = {
        name: max(
            r["matched_per_second"]
            for r in (results[name], partitions.get(name), replicas.get(name))
            if r is not None
        )
        for name in results
    }
    met = all(
        r["ok"] and best[name] >= TARGETS[name.split(",")[0]] for name, r in results.items()
    ) and all(r["ok"] for r in (*replicas.values(), *partitions.values()))
    return 0 if met and (memory is None or memory["ok"]) else 1


if __name__ == "__main__":
    raise SystemExit(run())
