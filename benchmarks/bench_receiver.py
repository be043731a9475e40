"""The receiver beside a bare Starlette endpoint that only parses the same JSON.

Starts a private Kafka broker, runs ``claimflow serve`` (sample payload, idempotent producer,
acks=all, INFO logs to a file as in production) and ``benchmarks.bare_app`` under uvicorn in
two subprocesses, and drives both from this process with a pool of async httpx clients over
loopback: first closed-loop at fixed concurrency for the peak requests/s, then the receiver
open-loop at half its peak rate (requests scheduled on a clock; latency counted from the
scheduled time, so a stall is not hidden) for p50/p99.

Done when the receiver reaches at least half the baseline's requests/s and its p99 at half its
own peak rate is under 50 ms. Load generator, servers and broker share the machine's cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from claimflow.devstack.kafka import KafkaBroker, free_port
from router.topic_admin import ensure_topics
from sandboxes.redox_sender import load_sample

TOKEN = "benchmark-token"  # noqa: S105 - a throw-away token for a loopback benchmark
CONCURRENCY = 32
WARMUP_SECONDS = 15.0
PEAK_SECONDS = 10.0
PACED_SECONDS = 10.0
MAX_REQUESTS = 50_000
BODIES = 2_000
FSYNC_EVERY_APPEND = os.environ.get("CLAIMFLOW_BENCH_FSYNC_EVERY_APPEND") == "1"


class _Broker(KafkaBroker):
    """The dev stack's broker, but flushing to disk on Kafka's default policy.

    The dev stack fsyncs after every append (``log.flush.interval.messages=1``), which
    production clusters leave to replication; ``FSYNC_EVERY_APPEND`` keeps it for comparison.
    """

    def _write_config(self) -> Path:
        config = super()._write_config()
        if not FSYNC_EVERY_APPEND:
            lines = config.read_text().splitlines(keepends=True)
            config.write_text("".join(x for x in lines if not x.startswith("log.flush.")))
        return config


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies: list[float]
    statuses: Counter[int]
    cpu_seconds: dict[str, float] | None = None  # by process, during this phase

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def row(self) -> str:
        bad = sum(n for status, n in self.statuses.items() if status != 200)
        cpu = "  ".join(
            f"{name} {seconds / self.requests * 1e6:.0f}"
            for name, seconds in (self.cpu_seconds or {}).items()
        )
        return (
            f"{self.name:<34} {self.rps:>9.0f} {self.percentile(0.50):>9.1f} "
            f"{self.percentile(0.99):>9.1f} {bad:>7}   {cpu}"
        )


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each process, and by this one."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {"load generator": time.process_time()}
    for name, pid in pids.items():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        used[name] = (int(fields[11]) + int(fields[12])) / ticks
    return used


async def _with_cpu(pids: dict[str, int], phase: Awaitable[Result]) -> Result:
    before = _cpu(pids)
    result = await phase
    after = _cpu(pids)
    result.cpu_seconds = {name: after[name] - before[name] for name in before}
    return result


def _bodies() -> list[bytes]:
    """The sample, each copy with its own Redox log id (distinct deliveries)."""
    sample = json.dumps(load_sample()).encode()
    log_id = load_sample()["Meta"]["Logs"][0]["ID"].encode()
    return [sample.replace(log_id, str(uuid.uuid4()).encode()) for _ in range(BODIES)]


def _wait_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0
) -> None:
    """Until ``url`` answers 200 (the bare app answers GET with 405: serving is enough)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text()[-2000:]
            raise RuntimeError(f"{url}: the server exited with {process.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback only
                return
        except urllib.error.HTTPError as answer:
            if answer.code == 405:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready within {timeout}s")


@contextmanager
def _server(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _closed_loop(name: str, url: str, bodies: list[bytes], seconds: float) -> Result:
    headers = {"content-type": "application/json", "verification-token": TOKEN}
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        stop = time.perf_counter() + seconds
        sent = 0

        async def worker() -> None:
            nonlocal sent
            while time.perf_counter() < stop and sent < MAX_REQUESTS:
                body = bodies[sent % len(bodies)]
                sent += 1
                started = time.perf_counter()
                answer = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                statuses[answer.status_code] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    return Result(name, len(latencies), elapsed, latencies, statuses)


async def _open_loop(
    name: str, url: str, bodies: list[bytes], rate: float, seconds: float
) -> Result:
    headers = {"content-type": "application/json", "verification-token": TOKEN}
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    count = min(int(rate * seconds), MAX_REQUESTS)
    limits = httpx.Limits(max_connections=4 * CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        origin = time.perf_counter() + 0.2

        async def one(index: int) -> None:
            scheduled = origin + index / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            answer = await client.post(url, content=bodies[index % len(bodies)], headers=headers)
            latencies.append(time.perf_counter() - scheduled)
            statuses[answer.status_code] += 1

        await asyncio.gather(*(one(i) for i in range(count)))
        elapsed = time.perf_counter() - origin
    return Result(name, len(latencies), elapsed, latencies, statuses)


async def _measure(receiver: str, bare: str, pids: dict[str, int]) -> tuple[Result, Result, Result]:
    bodies = _bodies()
    await _closed_loop("warm-up", bare, bodies, WARMUP_SECONDS)
    await _closed_loop("warm-up", receiver, bodies, WARMUP_SECONDS)
    baseline = await _with_cpu(
        pids, _closed_loop("bare Starlette, parse only (peak)", bare, bodies, PEAK_SECONDS)
    )
    peak = await _with_cpu(
        pids, _closed_loop("receiver, acks=all (peak)", receiver, bodies, PEAK_SECONDS)
    )
    half = peak.rps / 2
    paced = await _with_cpu(
        pids,
        _open_loop(f"receiver at {half:.0f}/s (half peak)", receiver, bodies, half, PACED_SECONDS),
    )
    return baseline, peak, paced


def run() -> int:
    with tempfile.TemporaryDirectory(prefix="claimflow-bench-") as tmp:
        root = Path(tmp)
        broker = KafkaBroker(
            state_dir=root / "kafka", port=free_port(), controller_port=free_port()
        )
        broker.start()
        try:
            asyncio.run(ensure_topics(broker.bootstrap_servers))
            return _run_servers(broker, root)
        finally:
            broker.stop()


def _run_servers(broker: KafkaBroker, root: Path) -> int:
    receiver_port, bare_port = free_port(), free_port()
    env = {
        **os.environ,
        "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN": TOKEN,
        "CLAIMFLOW_LOGGING__FORMAT": "json",
        "CLAIMFLOW_LOGGING__LEVEL": "INFO",
    }
    bin_dir = Path(sys.executable).parent
    receiver_argv = [str(bin_dir / "claimflow"), "serve", "--port", str(receiver_port)]
    bare_argv = [
        sys.executable,
        *("-m", "uvicorn", "benchmarks.bare_app:app", "--port", str(bare_port)),
        *("--no-access-log", "--log-level", "warning"),
    ]
    with (
        _server(receiver_argv, env, root / "receiver.log") as receiver,
        _server(bare_argv, env, root / "bare.log") as bare,
    ):
        _wait_ready(f"http://127.0.0.1:{receiver_port}/readyz", receiver, root / "receiver.log")
        _wait_ready(f"http://127.0.0.1:{bare_port}/webhooks/redox", bare, root / "bare.log")
        pids = {"receiver": receiver.pid, "bare": bare.pid, "broker": broker.pid() or 0}
        baseline, peak, paced = asyncio.run(
            _measure(
                f"http://127.0.0.1:{receiver_port}/webhooks/redox",
                f"http://127.0.0.1:{bare_port}/webhooks/redox",
                pids,
            )
        )
    return _report(baseline, peak, paced, _server_side(root / "receiver.log", paced.requests))


def _server_side(log: Path, last: int) -> str:
    """p50/p99 of the receiver's own duration and publish time (its canonical log lines)."""
    lines = [x for x in log.read_text().splitlines() if '"webhook request"' in x][-last:]
    rows = [json.loads(x) for x in lines]

    def quantiles(key: str) -> str:
        values = sorted(float(r[key]) for r in rows if r.get(key) is not None)
        if not values:
            return "n/a"
        p50, p99 = values[len(values) // 2], values[min(len(values) - 1, int(0.99 * len(values)))]
        return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"

    return f"in the receiver: request {quantiles('duration_ms')}; publish {quantiles('publish_ms')}"


def _report(baseline: Result, peak: Result, paced: Result, server_side: str) -> int:
    print(f"{os.cpu_count()} CPUs shared by load generator, both servers and the broker")
    print(f"broker fsync after every append: {FSYNC_EVERY_APPEND}")
    print(
        f"{'':<34} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'non-200':>7}"
        "   CPU µs per request, by process"
    )
    for result in (baseline, peak, paced):
        print(result.row())
    ratio = peak.rps / baseline.rps
    p99 = paced.percentile(0.99)
    print(f"receiver / baseline requests/s: {ratio:.2f} (need >= 0.50)")
    print(
        f"receiver p99 at half its peak: {p99:.1f} ms (need < 50); "
        f"mean {statistics.fmean(paced.latencies) * 1000:.1f} ms"
    )
    ok = (
        ratio >= 0.5 and p99 < 50 and all(set(r.statuses) == {200} for r in (baseline, peak, paced))
    )
    print(f"at half peak, {server_side}")
    print("done-criteria:", "met" if ok else "MISSED")
    return 0 if ok else 1
