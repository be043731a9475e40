"""``claimflow kafka start|stop|status``, ``claimflow topics create``, ``claimflow dev up`` and
``claimflow traces serve|show`` (the local trace sink of ``make run``)."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any

from claimflow.errors import CommandError

__all__ = ["register", "state_dir"]


def state_dir() -> Path:
    """Where the local stack keeps its broker data and logs (outside git)."""
    default = Path.home() / ".local" / "state" / "claimflow"
    return Path(os.environ.get("CLAIMFLOW_STATE_DIR", default))


def _broker(args: argparse.Namespace) -> Any:
    from claimflow.devstack.kafka import KafkaBroker

    return KafkaBroker(
        state_dir=state_dir() / "kafka", port=args.port, controller_port=args.port + 1
    )


def _require_free(ports: list[tuple[int, str, str]]) -> None:
    """Fail with ``PortInUse`` before starting anything when a port is taken."""
    from claimflow.listening import bind_listener

    for port, what, setting in ports:
        bind_listener("127.0.0.1", port, what=what, setting=setting).close()


def _start_broker(broker: Any) -> None:
    from claimflow.devstack.kafka import KafkaToolingError
    from claimflow.progress import progress

    try:
        with progress(f"kafka starting on {broker.bootstrap_servers}", unit="") as bar:
            broker.start(waiting=lambda: bar.advance(0))
    except KafkaToolingError as exc:  # no java, no jars, or the broker died: its log says why
        raise CommandError(str(exc).splitlines()[0]) from exc


def _kafka(args: argparse.Namespace) -> int:
    from router.topic_admin import ensure_topics

    broker = _broker(args)
    if args.action == "start":
        if not broker.is_running():
            _require_free(
                [
                    (args.port, "Kafka", "--port"),
                    (args.port + 1, "the Kafka controller", "--port (controller: +1)"),
                ]
            )
        _start_broker(broker)
        asyncio.run(ensure_topics(broker.bootstrap_servers))
        print(broker.bootstrap_servers)
    elif args.action == "stop":
        broker.stop()
        print("stopped")
    else:
        if broker.is_running():
            print(f"running {broker.bootstrap_servers} pid {broker.pid()}")
        else:
            print("stopped")
            return 1
    return 0


def _topics(args: argparse.Namespace) -> int:
    from claimflow.settings import load_settings
    from router.topic_admin import ensure_topics

    settings = load_settings()
    created = asyncio.run(
        ensure_topics(
            settings.kafka.bootstrap_servers,
            prefix=settings.kafka.topic_prefix,
            partitions=args.partitions,
            replication_factor=args.replication_factor,
        )
    )
    for name in created:
        print(f"created {name}")
    return 0


def _dev(args: argparse.Namespace) -> int:
    from claimflow.devstack.stack import LocalStack
    from claimflow.progress import progress

    stack = LocalStack(state_dir=state_dir(), kafka_port=args.kafka_port, receiver_port=args.port)
    _require_free(stack.ports())
    try:
        with progress("dev up", len(stack.steps()), unit="parts up") as bar:
            stack.up(progress=bar)
        return stack.wait()
    finally:
        stack.down()


def _traces(args: argparse.Namespace) -> int:
    from claimflow.devstack.traces import read_spans, render_traces

    path = args.file or state_dir() / "traces.jsonl"
    if args.action == "show":
        spans = read_spans(path)
        if not spans:
            print(f"no spans in {path}: start the stack with CLAIMFLOW_TRACING__ENABLED=true")
            return 0
        print(render_traces(spans, last=args.last))
        return 0
    import uvicorn

    from claimflow.devstack.traces import TraceSink
    from claimflow.listening import bind_listener

    # The port first: a sink already running is the likelier mistake than an unwritable file.
    listener = bind_listener("127.0.0.1", args.port, what="the trace sink", setting="--port")
    path.parent.mkdir(parents=True, exist_ok=True)
    config = uvicorn.Config(TraceSink(path), lifespan="off", log_level="warning")
    print(f"trace sink on http://127.0.0.1:{args.port}/v1/traces, writing {path}", flush=True)
    uvicorn.Server(config).run(sockets=[listener])
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    kafka = subparsers.add_parser(
        "kafka",
        help="run a local single-node Kafka (KRaft)",
        epilog="example: claimflow kafka start --port 9092",
    )
    kafka.add_argument("action", choices=["start", "stop", "status"])
    kafka.add_argument("--port", type=int, default=9092, help="client port (controller: +1)")
    kafka.set_defaults(run=_kafka)

    topics = subparsers.add_parser(
        "topics",
        help="create the topics of the contract",
        epilog="example: CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:9092 claimflow topics create",
    )
    topics.add_argument("action", choices=["create"])
    topics.add_argument("--partitions", type=int, default=3)
    topics.add_argument("--replication-factor", type=int, default=1)
    topics.set_defaults(run=_topics)

    dev = subparsers.add_parser(
        "dev",
        help="run the whole local stack (Kafka, roles, sandboxes)",
        epilog="example: claimflow dev up --port 8080",
    )
    dev.add_argument("action", choices=["up"])
    dev.add_argument("--port", type=int, default=8080, help="receiver port")
    dev.add_argument("--kafka-port", type=int, default=9092)
    dev.set_defaults(run=_dev)

    traces = subparsers.add_parser(
        "traces",
        help="the local trace sink (OTLP/HTTP in, JSON lines out) and its trace trees",
        epilog="example: claimflow traces show --last 3",
    )
    traces.add_argument("action", choices=["serve", "show"])
    traces.add_argument("--port", type=int, default=4318, help="OTLP/HTTP port (serve)")
    traces.add_argument("--file", type=Path, help="span file (default: <state>/traces.jsonl)")
    traces.add_argument("--last", type=int, default=3, help="traces to print (show)")
    traces.set_defaults(run=_traces)
