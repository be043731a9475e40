"""The receiver beside a bare Starlette endpoint that only parses the same JSON, driven by oha.

Starts a private Kafka broker, runs ``claimflow serve`` (idempotent producer, acks=all, INFO
JSON logs to a file as in production) and ``benchmarks.bare_app`` under uvicorn, one process
each, and drives both with oha (a native load generator: Rust, installed by
``scripts/bootstrap`` with cargo install) over loopback, posting Redox's sample with a fresh log id
per request:

1. warm-up of each server;
2. peak: closed loop, ``CONCURRENCY`` connections, ``PEAK_SECONDS`` per server, same run;
3. the receiver open loop at half its peak rate (oha ``-q`` with ``--latency-correction``:
   latency counts from when a request was due, so a stall is not hidden) for p50/p99.

Tracing on vs off is ``bench_receiver_tracing``, which uses this module's helpers.

CPU µs per request of each process (load generator, server, broker) come from
``/proc/<pid>/stat`` around each phase. Done when the receiver reaches at least half the
baseline's requests/s and its p99 at half its own peak is under 20 ms, every answer 200.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from claimflow.devstack.kafka import KafkaBroker, free_port
from router.topic_admin import ensure_topics
from sandboxes.redox_sender import load_sample

TOKEN = "benchmark-token"  # noqa: S105 - a throw-away token for a loopback benchmark
CONCURRENCY = 32
WARMUP_SECONDS = 5
PEAK_SECONDS = 10
PACED_SECONDS = 10
MIN_RATIO = 0.5
MAX_P99_MS = 20.0
FSYNC_EVERY_APPEND = os.environ.get("CLAIMFLOW_BENCH_FSYNC_EVERY_APPEND") == "1"
OHA_ENV = "CLAIMFLOW_OHA"
CACHE_BIN = Path(os.environ.get("CLAIMFLOW_CACHE_DIR", Path.home() / ".cache" / "claimflow"))
# Bodies for oha's -Z (one JSON document a line, a random line per request): the sample, each
# copy with its own Redox log id, so that deliveries are distinct and spread over partitions.
BODIES = 5_000


class _Broker(KafkaBroker):
    """The dev stack's broker, flushing to disk on Kafka's default policy unless asked.

    The dev stack fsyncs after every append (``log.flush.interval.messages=1``), which
    production clusters leave to replication; ``FSYNC_EVERY_APPEND`` keeps it for comparison.
    """

    def _write_config(self) -> Path:
        config = super()._write_config()
        if not FSYNC_EVERY_APPEND:
            lines = config.read_text().splitlines(keepends=True)
            config.write_text("".join(x for x in lines if not x.startswith("log.flush.")))
        return config


def oha_path() -> str:
    """oha from the bootstrap's cache (``cargo install --root``), $CLAIMFLOW_OHA, or PATH."""
    for candidate in (os.environ.get(OHA_ENV), str(CACHE_BIN / "cargo" / "bin" / "oha")):
        if candidate and Path(candidate).is_file():
            return candidate
    found = shutil.which("oha")
    if found is None:
        raise SystemExit("oha not found: run CLAIMFLOW_BOOTSTRAP_BENCH=1 ./scripts/bootstrap")
    return found


@dataclass
class Result:
    name: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # by process, this phase

    def cpu_us(self, process: str) -> float:
        return self.cpu_seconds.get(process, 0.0) / max(self.requests, 1) * 1e6

    def row(self) -> str:
        bad = sum(n for status, n in self.statuses.items() if status != "200")
        cpu = " / ".join(f"{self.cpu_us(name):.0f}" for name in self.cpu_seconds)
        return (
            f"{self.name:<38} {self.rps:>9.0f} {self.p50_ms:>8.2f} {self.p99_ms:>8.2f} "
            f"{bad:>7}   {cpu}"
        )


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its reaped children."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / ticks


def _bodies(path: Path) -> Path:
    sample = json.dumps(load_sample())
    log_id = load_sample()["Meta"]["Logs"][0]["ID"]
    with path.open("w") as out:
        for _ in range(BODIES):
            out.write(sample.replace(log_id, str(uuid.uuid4())) + "\n")
    return path


def _oha(
    name: str,
    url: str,
    body: Path,
    seconds: int,
    pids: dict[str, int],
    *,
    rate: float | None = None,
) -> Result:
    argv = [
        oha_path(),
        *("-z", f"{seconds}s", "-c", str(CONCURRENCY if rate is None else 4 * CONCURRENCY)),
        *("-m", "POST", "-Z", str(body), "-T", "application/json"),
        *("-H", f"verification-token: {TOKEN}"),
        *("--no-tui", "--output-format", "json", "--wait-ongoing-requests-after-deadline"),
    ]
    if rate is not None:
        argv += ["-q", f"{rate:.0f}", "--latency-correction"]
    argv.append(url)
    before = {process: _cpu_of(pid) for process, pid in pids.items()}
    started = os.times()
    run = subprocess.run(argv, capture_output=True, text=True, check=True)
    finished = os.times()
    after = {process: _cpu_of(pid) for process, pid in pids.items()}
    report = json.loads(run.stdout)
    statuses = {str(k): int(v) for k, v in report["statusCodeDistribution"].items()}
    errors = sum(int(v) for v in report.get("errorDistribution", {}).values())
    if errors:
        statuses["error"] = errors
    latency = report["latencyPercentiles"]
    cpu = {
        "load generator": (finished.children_user + finished.children_system)
        - (started.children_user + started.children_system),
        **{process: after[process] - before[process] for process in pids},
    }
    return Result(
        name=name,
        requests=sum(statuses.values()),
        rps=report["summary"]["requestsPerSec"],
        p50_ms=(latency.get("p50") or 0.0) * 1000,
        p99_ms=(latency.get("p99") or 0.0) * 1000,
        statuses=statuses,
        cpu_seconds=cpu,
    )


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    """Until ``url`` answers (the bare app answers GET with 405: serving is enough)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited:\n{log.read_text()[-2000:]}")
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


def run() -> int:
    return run_with_broker(_run_servers)


def run_with_broker(run_servers: Callable[[KafkaBroker, Path], int]) -> int:
    """Run ``run_servers`` against a private broker (topics made) in a scratch folder."""
    oha_path()  # fail before starting anything
    with tempfile.TemporaryDirectory(prefix="claimflow-bench-") as tmp:
        root = Path(tmp)
        broker = _Broker(state_dir=root / "kafka", port=free_port(), controller_port=free_port())
        broker.start()
        try:
            asyncio.run(ensure_topics(broker.bootstrap_servers))
            return run_servers(broker, root)
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
    body = _bodies(root / "bodies.jsonl")
    load_before = os.getloadavg()
    with (
        _server(receiver_argv, env, root / "receiver.log") as receiver,
        _server(bare_argv, env, root / "bare.log") as bare,
    ):
        _wait_ready(f"http://127.0.0.1:{receiver_port}/readyz", receiver, root / "receiver.log")
        _wait_ready(f"http://127.0.0.1:{bare_port}/webhooks/redox", bare, root / "bare.log")
        receiver_url = f"http://127.0.0.1:{receiver_port}/webhooks/redox"
        bare_url = f"http://127.0.0.1:{bare_port}/webhooks/redox"
        broker_pid = broker.pid() or 0
        bare_pids = {"server": bare.pid, "broker": broker_pid}
        receiver_pids = {"server": receiver.pid, "broker": broker_pid}
        _oha("warm-up", bare_url, body, WARMUP_SECONDS, bare_pids)
        _oha("warm-up", receiver_url, body, WARMUP_SECONDS, receiver_pids)
        baseline = _oha("bare Starlette (peak)", bare_url, body, PEAK_SECONDS, bare_pids)
        peak = _oha("receiver (peak)", receiver_url, body, PEAK_SECONDS, receiver_pids)
        half = peak.rps / 2
        paced = _oha(
            f"receiver at {half:.0f}/s (half peak, open)",
            receiver_url,
            body,
            PACED_SECONDS,
            receiver_pids,
            rate=half,
        )
    load_after = os.getloadavg()
    server_side = _server_side(root / "receiver.log", paced.requests)
    return _report(baseline, peak, paced, server_side, (load_before, load_after))


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


def _report(
    baseline: Result,
    peak: Result,
    paced: Result,
    server_side: str,
    load: tuple[tuple[float, float, float], tuple[float, float, float]],
) -> int:
    print(f"{os.cpu_count()} CPUs shared by oha, both servers and the broker")
    print(
        f"load average before: {load[0][0]:.2f} {load[0][1]:.2f} {load[0][2]:.2f}; "
        f"after: {load[1][0]:.2f} {load[1][1]:.2f} {load[1][2]:.2f}"
    )
    print(f"broker fsync after every append: {FSYNC_EVERY_APPEND}")
    print(
        f"{'':<38} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-200':>7}"
        "   CPU µs per request: oha / server / broker"
    )
    for result in (baseline, peak, paced):
        print(result.row())
    ratio = peak.rps / baseline.rps
    print(f"receiver / baseline requests/s: {ratio:.2f} (need >= {MIN_RATIO})")
    # Each server is one process, so one core bounds it: its CPU per request is what its peak
    # would be on a core of its own, whatever the neighbours did to the wall-clock rates.
    cpu_ratio = baseline.cpu_us("server") / max(peak.cpu_us("server"), 1e-9)
    print(
        f"server CPU per request, baseline / receiver: {baseline.cpu_us('server'):.0f} / "
        f"{peak.cpu_us('server'):.0f} µs = {cpu_ratio:.2f} (the ratio on a core each)"
    )
    print(
        f"receiver p99 at half its peak, open loop: {paced.p99_ms:.1f} ms (need < {MAX_P99_MS:.0f})"
    )
    print(f"at half peak, {server_side}")
    all_ok = all(set(r.statuses) == {"200"} for r in (baseline, peak, paced))
    ok = ratio >= MIN_RATIO and paced.p99_ms < MAX_P99_MS and all_ok
    print("done-criteria:", "met" if ok else "MISSED")
    return 0 if ok else 1
