"""Tracing on vs off in the receiver: server CPU per request, same run, rounds interleaved.

Issue 12's aim: tracing adds at most 10% to the receiver's CPU per request. Starts a private
Kafka broker, the local trace sink (``claimflow traces serve``, its own process, as a Collector
would be) and four ``claimflow serve`` processes, as production runs them (idempotent producer,
acks=all, INFO JSON logs to a file):

* tracing off, twice: two processes alike differ by a few percent (memory layout), which is
  the noise floor the overheads below stand on;
* tracing on at the production default (``CLAIMFLOW_TRACING__SAMPLE_RATIO`` unset: 1%);
* tracing on, 10% of deliveries (``CLAIMFLOW_TRACING__SAMPLE_RATIO=0.1``);
* tracing on, every delivery (``CLAIMFLOW_TRACING__SAMPLE_RATIO=1``);

each exporting over OTLP/HTTP to the sink. Each is warmed up, then oha (``CONCURRENCY``
connections, closed loop) drives them in turn for ``PHASE_SECONDS``, ``ROUNDS`` times round,
so that a busy neighbour hits every configuration alike; every receiver runs with the same
``PYTHONHASHSEED``. The figure is each configuration's median, over the rounds, of its server's
CPU µs per request (``/proc/<pid>/stat``: its own threads, the span export thread included);
the overhead is that against the median of both untraced processes' rounds. Done when the
production default adds at most 10%.
"""

from __future__ import annotations

import os
import statistics
import sys
from contextlib import ExitStack
from pathlib import Path

from benchmarks.bench_receiver import (
    TOKEN,
    WARMUP_SECONDS,
    Result,
    _bodies,
    _oha,
    _server,
    _wait_ready,
    run_with_broker,
)
from claimflow.devstack.kafka import KafkaBroker, free_port

ROUNDS = 4
PHASE_SECONDS = 8
MAX_OVERHEAD = 0.10
OFF = "tracing off"
OFF_AGAIN = "tracing off, a second process"
DEFAULT = "tracing on, production default (1%)"
# The configurations: name -> CLAIMFLOW_TRACING__SAMPLE_RATIO (None: off / the default).
CONFIGURATIONS: dict[str, str | None] = {
    OFF: None,
    DEFAULT: None,
    OFF_AGAIN: None,
    "tracing on, 10% of deliveries": "0.1",
    "tracing on, every delivery": "1",
}


def run() -> int:
    return run_with_broker(_run_servers)


def _environment(broker: KafkaBroker, sink_port: int, name: str) -> dict[str, str]:
    env = {
        **os.environ,
        "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN": TOKEN,
        "CLAIMFLOW_LOGGING__FORMAT": "json",
        "CLAIMFLOW_LOGGING__LEVEL": "INFO",
        "PYTHONHASHSEED": "0",
    }
    for variable in ("OTEL_SDK_DISABLED", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"):
        env.pop(variable, None)
    env.pop("CLAIMFLOW_TRACING__SAMPLE_RATIO", None)
    if name in (OFF, OFF_AGAIN):
        env["CLAIMFLOW_TRACING__ENABLED"] = "false"
        return env
    env["CLAIMFLOW_TRACING__ENABLED"] = "true"
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{sink_port}"
    ratio = CONFIGURATIONS[name]
    if ratio is not None:
        env["CLAIMFLOW_TRACING__SAMPLE_RATIO"] = ratio
    return env


def _run_servers(broker: KafkaBroker, root: Path) -> int:
    claimflow = str(Path(sys.executable).parent / "claimflow")
    body = _bodies(root / "bodies.jsonl")
    sink_port = free_port()
    sink_argv = [claimflow, "traces", "serve", "--port", str(sink_port)]
    sink_argv += ["--file", str(root / "traces.jsonl")]
    broker_pid = broker.pid() or 0
    results: dict[str, list[Result]] = {name: [] for name in CONFIGURATIONS}
    with ExitStack() as stack:
        sink = stack.enter_context(_server(sink_argv, dict(os.environ), root / "sink.log"))
        urls: dict[str, tuple[str, dict[str, int]]] = {}
        for number, name in enumerate(CONFIGURATIONS):
            port = free_port()
            log = root / f"receiver-{number}.log"
            env = _environment(broker, sink_port, name)
            argv = [claimflow, "serve", "--port", str(port)]
            server = stack.enter_context(_server(argv, env, log))
            _wait_ready(f"http://127.0.0.1:{port}/readyz", server, log)
            pids = {"server": server.pid, "broker": broker_pid, "sink": sink.pid}
            urls[name] = (f"http://127.0.0.1:{port}/webhooks/redox", pids)
        for url, pids in urls.values():
            _oha("warm-up", url, body, WARMUP_SECONDS, pids)
        load_before = os.getloadavg()
        for _ in range(ROUNDS):
            for name, (url, pids) in urls.items():
                results[name].append(_oha(name, url, body, PHASE_SECONDS, pids))
        load_after = os.getloadavg()
    traces = root / "traces.jsonl"
    spans = sum(1 for _ in traces.open()) if traces.exists() else 0
    return _report(results, (load_before, load_after), spans)


def _report(
    results: dict[str, list[Result]],
    load: tuple[tuple[float, float, float], tuple[float, float, float]],
    spans: int,
) -> int:
    print(f"{os.cpu_count()} CPUs shared by oha, the receivers, the broker and the trace sink")
    print(
        f"load average before: {load[0][0]:.2f} {load[0][1]:.2f} {load[0][2]:.2f}; "
        f"after: {load[1][0]:.2f} {load[1][1]:.2f} {load[1][2]:.2f}"
    )
    print(f"{ROUNDS} rounds of {PHASE_SECONDS} s each, interleaved; spans exported: {spans}")
    off = statistics.median(r.cpu_us("server") for r in results[OFF] + results[OFF_AGAIN])
    print(
        f"{'':<38} {'req/s':>7} {'server CPU µs/req':>18} {'vs off':>8} {'sink µs':>8}"
        "   each round's µs"
    )
    overheads: dict[str, float] = {}
    for name, rounds in results.items():
        cpu = statistics.median(r.cpu_us("server") for r in rounds)
        rps = statistics.median(r.rps for r in rounds)
        sink = statistics.median(r.cpu_us("sink") for r in rounds)
        overheads[name] = cpu / max(off, 1e-9) - 1
        versus = f"{overheads[name]:+.1%}"
        each = " / ".join(f"{r.cpu_us('server'):.0f}" for r in rounds)
        print(f"{name:<38} {rps:>7.0f} {cpu:>18.0f} {versus:>8} {sink:>8.0f}   {each}")
    bad = sum(n for rs in results.values() for r in rs for s, n in r.statuses.items() if s != "200")
    print(f"non-200 answers: {bad}")
    print(f"untraced CPU per request (both processes' rounds): {off:.0f} µs")
    ok = overheads[DEFAULT] <= MAX_OVERHEAD and bad == 0
    print(
        f"tracing overhead at the production default: {overheads[DEFAULT]:+.1%} "
        f"(aim: <= +{MAX_OVERHEAD:.0%}): {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1
