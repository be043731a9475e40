"""The router stage beside a plain consume -> produce copy of the same webhook records.

Starts a private Kafka broker, preloads ``BATCHES`` Claim.PaymentBatch webhooks of
``CLAIMS_PER_BATCH`` claims each (the Redox sample, grown) as the receiver publishes them, then:

1. the router stage, in this process: exactly once (one transactional producer per input
   partition, changelog, offsets in the transaction), from partitions assigned to the last
   claim message committed;
2. the baseline: a consumer group copying the same records to another topic with a plain
   idempotent producer (acks=all, no transactions), committing offsets after each poll;
3. the CPU cost alone: splitting the same records without Kafka.

Done when every claim message is on the claim topic exactly once (read_committed, by message
id), the router makes at least ``MIN_ROUTER_RATE`` claim messages/s and the split alone at least
``MIN_SPLIT_RATE``. The plain copy is the baseline in the same run: a webhook's claim messages
are 2.5x its size (each carries its transaction, payer, payee and patient), so both the
webhooks/s and the MB/s ratios are printed. CPU µs per claim message of this process (the
router, or the copy) and of the broker are printed for each phase. The broker and the client
share the machine's cores; numbers are for comparing, not for capacity planning.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import CollectorRegistry

from claimflow.devstack.kafka import KafkaBroker, free_port
from claimflow.kafka_clients import consumer_kwargs, producer_kwargs
from claimflow.logging import configure_logging
from claimflow.settings import KafkaSettings, LoggingSettings, RouterSettings
from router._metrics import RouterMetrics
from router._routing import Routed, route_record
from router.routes import RouteTable
from router.stage import RouterStage
from router.topic_admin import ensure_topics
from router.topics import HEADERS, TopicSet

BATCHES = 500
CLAIMS_PER_BATCH = 20
PARTITIONS = 3
MIN_ROUTER_RATE = 15_000  # claim messages/s, exactly once
MIN_SPLIT_RATE = 50_000  # claim messages/s, parse + validate + split, no Kafka
SAMPLE = Path(__file__).parents[1] / "tests" / "fixtures" / "redox-claim-paymentbatch.json"
COPY_TOPIC = "bench.webhook-copy"
# Same knob as bench_receiver: keep the dev stack's fsync after every append for comparison.
FSYNC_EVERY_APPEND = os.environ.get("CLAIMFLOW_BENCH_FSYNC_EVERY_APPEND") == "1"


class _Broker(KafkaBroker):
    """The dev stack's broker, flushing to disk on Kafka's default policy unless asked."""

    def _write_config(self) -> Path:
        config = super()._write_config()
        if not FSYNC_EVERY_APPEND:
            lines = config.read_text().splitlines(keepends=True)
            config.write_text("".join(x for x in lines if not x.startswith("log.flush.")))
        return config


def _batches() -> list[tuple[str, bytes]]:
    sample: dict[str, Any] = json.loads(SAMPLE.read_text())
    sample["Meta"]["Test"] = False
    out = []
    for index in range(BATCHES):
        payload = copy.deepcopy(sample)
        log_id = str(uuid.uuid4())
        payload["Meta"]["Logs"] = [{"ID": log_id, "AttemptID": str(uuid.uuid4())}]
        payment = payload["Transactions"][0]["Payments"][0]
        template = payment["Claims"][0]
        payment["Claims"] = [
            {**template, "SubmissionNumber": f"B{index}-C{claim}"}
            for claim in range(CLAIMS_PER_BATCH)
        ]
        payload["Transactions"][0]["Payments"] = [payment]
        out.append((log_id, json.dumps(payload).encode()))
    return out


async def _preload(kafka: KafkaSettings, topic: str, batches: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(**producer_kwargs(kafka, role="bench-preload"))
    await producer.start()
    try:
        sent = [
            await producer.send(
                topic,
                value,
                key=log_id.encode(),
                headers=[(HEADERS.REDOX_LOG_ID, log_id.encode()), (HEADERS.TEST, b"false")],
            )
            for log_id, value in batches
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def _run_router(kafka: KafkaSettings, routes: RouteTable, total: int) -> float:
    """Seconds from partitions assigned to the last claim message committed."""
    registry = CollectorRegistry()
    stage = RouterStage(
        kafka=kafka,
        settings=RouterSettings(group_id="bench-router", transactional_id_prefix="bench-router"),
        routes=routes,
        metrics=RouterMetrics.create(registry),
    )
    task = asyncio.create_task(stage.run())
    topic = TopicSet(prefix=kafka.topic_prefix).claim_payments

    def out() -> float:
        labels = {"topic": topic}
        return registry.get_sample_value("claimflow_router_claim_messages_total", labels) or 0.0

    try:
        while not stage.ready():
            if task.done():
                task.result()  # raises why the stage stopped
            await asyncio.sleep(0.005)
        started = time.perf_counter()
        while out() < total:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        return time.perf_counter() - started
    finally:
        stage.stop()
        await task


async def _run_copy(kafka: KafkaSettings, source: str, records: int) -> float:
    """Seconds from the first record read to the last copy acknowledged and committed."""
    consumer = AIOKafkaConsumer(
        source, **consumer_kwargs(kafka, role="bench-copy", group_id="bench-copy")
    )
    producer = AIOKafkaProducer(**producer_kwargs(kafka, role="bench-copy"), linger_ms=5)
    await consumer.start()
    await producer.start()
    try:
        copied = 0
        started: float | None = None
        while copied < records:
            batch = await consumer.getmany(timeout_ms=500, max_records=100)
            started = started or (time.perf_counter() if batch else None)
            sent = [
                await producer.send(COPY_TOPIC, r.value, key=r.key, headers=list(r.headers))
                for rs in batch.values()
                for r in rs
            ]
            await asyncio.gather(*sent)
            await consumer.commit()
            copied += len(sent)
        assert started is not None
        return time.perf_counter() - started
    finally:
        await producer.stop()
        await consumer.stop()


async def _claim_ids(kafka: KafkaSettings, topic: str) -> tuple[Counter[str], int]:
    """Message ids on ``topic`` (read_committed) and the bytes of their values."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        ids: Counter[str] = Counter()
        size = 0
        while any([await consumer.position(tp) < end[tp] for tp in partitions]):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                ids.update(dict(r.headers)[HEADERS.MESSAGE_ID].decode() for r in records)
                size += sum(len(r.value) for r in records)
        return ids, size
    finally:
        await consumer.stop()


def _split_seconds(routes: RouteTable, topic: str, batches: list[tuple[str, bytes]]) -> float:
    class _Record:
        def __init__(self, offset: int, key: str, value: bytes) -> None:
            self.topic, self.partition, self.offset = topic, 0, offset
            self.key, self.value, self.headers = key.encode(), value, []

    started = time.perf_counter()
    for offset, (log_id, value) in enumerate(batches):
        assert isinstance(route_record(_Record(offset, log_id, value), routes), Routed)
    return time.perf_counter() - started


def _cpu(broker_pid: int) -> tuple[float, float]:
    """CPU seconds used so far by this process and by the broker."""
    fields = Path(f"/proc/{broker_pid}/stat").read_text().rsplit(")", 1)[1].split()
    return time.process_time(), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_us(before: tuple[float, float], after: tuple[float, float], count: int) -> str:
    here, broker = ((a - b) / count * 1e6 for a, b in zip(after, before, strict=True))
    return f"CPU µs per claim message: client {here:.0f} / broker {broker:.0f}"


async def _bench(bootstrap: str, broker_pid: int) -> int:
    kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix="claimflow.")
    await ensure_topics(bootstrap, partitions=PARTITIONS)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(COPY_TOPIC, PARTITIONS, 1)])
    finally:
        await admin.close()
    routes = RouteTable.default(kafka.topic_prefix)
    topics = TopicSet(prefix=kafka.topic_prefix)
    batches = _batches()
    total = BATCHES * CLAIMS_PER_BATCH
    megabytes = sum(len(value) for _, value in batches) / 1e6
    await _preload(kafka, topics.webhook_payment_batch, batches)

    load_before = os.getloadavg()
    cpu_0 = _cpu(broker_pid)
    router_s = await _run_router(kafka, routes, total)
    cpu_1 = _cpu(broker_pid)
    copy_s = await _run_copy(kafka, topics.webhook_payment_batch, BATCHES)
    cpu_2 = _cpu(broker_pid)
    split_s = _split_seconds(routes, topics.webhook_payment_batch, batches)
    cpu_3 = _cpu(broker_pid)
    load_after = os.getloadavg()
    ids, out_bytes = await _claim_ids(kafka, topics.claim_payments)

    exactly_once = len(ids) == total and max(ids.values()) == 1
    router_rate = total / router_s
    split_rate = total / split_s
    print(
        f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}; "
        f"after: {' '.join(f'{x:.2f}' for x in load_after)}"
    )
    print(
        f"input: {BATCHES} webhooks x {CLAIMS_PER_BATCH} claims, {megabytes:.1f} MB; "
        f"output: {total} claim messages, {out_bytes / 1e6:.1f} MB"
    )
    print(
        f"router (EOS):    {router_rate:8.0f} claim messages/s  "
        f"{BATCHES / router_s:6.0f} webhooks/s  "
        f"({router_s:.2f} s, {out_bytes / 1e6 / router_s:.1f} MB/s of claim messages written)"
    )
    print(f"                  {_cpu_us(cpu_0, cpu_1, total)}")
    print(
        f"baseline copy:   {'':8s}                   {BATCHES / copy_s:6.0f} webhooks/s  "
        f"({copy_s:.2f} s, {megabytes / copy_s:.1f} MB/s, acks=all, no transactions)"
    )
    print(f"                  {_cpu_us(cpu_1, cpu_2, total)} (per claim message routed)")
    print(
        f"split only (CPU): {split_rate:7.0f} claim messages/s  "
        f"{BATCHES / split_s:6.0f} webhooks/s  ({split_s:.2f} s, no Kafka)"
    )
    print(f"                  {_cpu_us(cpu_2, cpu_3, total)}")
    bytes_ratio = (out_bytes / router_s) / (megabytes * 1e6 / copy_s)
    print(f"router / baseline: {copy_s / router_s:.2f} in webhooks/s, {bytes_ratio:.2f} in MB/s")
    print(
        f"claim messages exactly once: {exactly_once} ({sum(ids.values())} read, {total} expected)"
    )
    print(f"router: {router_rate:.0f} claim messages/s (need >= {MIN_ROUTER_RATE})")
    print(f"split only: {split_rate:.0f} claim messages/s (need >= {MIN_SPLIT_RATE})")
    ok = exactly_once and router_rate >= MIN_ROUTER_RATE and split_rate >= MIN_SPLIT_RATE
    print("done-criteria:", "met" if ok else "MISSED")
    return 0 if ok else 1


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through `finally`: the broker is stopped


def run() -> int:
    configure_logging(LoggingSettings(level="WARNING", format="json"))
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with tempfile.TemporaryDirectory(prefix="claimflow-bench-router-") as state:
        broker = _Broker(state_dir=Path(state), port=free_port(), controller_port=free_port())
        broker.start()
        try:
            return asyncio.run(_bench(broker.bootstrap_servers, broker.pid() or 0))
        finally:
            broker.stop()


if __name__ == "__main__":
    raise SystemExit(run())
