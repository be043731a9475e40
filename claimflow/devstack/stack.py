"""``claimflow dev up``: the whole local stack in one command.

Starts a local Apache Kafka broker (KRaft) with the topic contract, the Integrex and Availity
sandboxes, then every claimflow role as its own process — receiver, router, the ledger, the
status-check and the attachment handlers — and the billing worklist with a local OpenID Connect
provider and two demo users, wired together through environment variables the way Kubernetes
wires them. Each process logs to ``<state>/logs/<name>.log``. Ctrl-C (or SIGTERM)
stops them all, newest first, each given time to drain. The ledger is the default SQLite
file (``./claimflow-ledger.db``, or ``CLAIMFLOW_DATABASE__URL``), so ``claimflow claims import``
and ``claimflow claim show`` run from the same directory see the stack's ledger. The stack
runs the *test* lane for handlers because Redox's sample (and its dev tools) send
``Meta.Test: true``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from claimflow.devstack.identity import LocalIdentityProvider
from claimflow.devstack.kafka import KafkaBroker
from claimflow.devstack.worklist_stack import worklist_environment
from claimflow.errors import CommandError
from claimflow.progress import Progress

__all__ = ["DEV_VERIFICATION_TOKEN", "LocalStack", "StackProcess"]

DEV_VERIFICATION_TOKEN = "local-dev-verification-token"  # noqa: S105 - a local-only dev value
_SANDBOX_CLIENT_ID = "claimflow-local"
_SANDBOX_CLIENT_SECRET = "local-sandbox-secret"  # noqa: S105 - the sandboxes' own dev value
# The local Integrex sandbox answers every inquiry "R4: documentation requested" so that one
# `claimflow send-sample` shows the whole follow-up chain: status check, then attachment.
_DEMO_CATEGORY, _DEMO_STATUS = "R4", "21"
# The roles' health servers, one port each (CLAIMFLOW_HANDLERS__HEALTH_PORT).
_ROLES = (
    ("router", ["route"], 8181),
    ("ledger", ["handle", "ledger"], 8182),
    ("status-check", ["handle", "status-check"], 8183),
    ("attachment", ["handle", "attachment"], 8184),
)
# A stand-in document for the sample's claims, for the documents R4 asks for.
_DEMO_PDF = b"%PDF-1.4\n% claimflow local demo document\n%%EOF\n"


def seed_demo_documents(root: Path, claim_numbers: Iterable[str] | None = None) -> None:
    """Give claims the documents an R4 answer asks for: the Redox sample's, or ``claim_numbers``."""
    from importlib.resources import files

    from handlers.ledger.followup_rules import load_rules

    codes = sorted({code for rule in load_rules().rules for code in rule.loinc})
    if claim_numbers is None:
        claims = files("sandboxes.data").joinpath("redox-sample-claims.csv").read_text()
        claim_numbers = [line.split(",", 1)[0] for line in claims.splitlines()[1:]]
    for number in claim_numbers:
        for code in codes:
            document = root / number / code / f"{code}.pdf"
            if not document.exists():
                document.parent.mkdir(parents=True, exist_ok=True)
                document.write_bytes(_DEMO_PDF)


@dataclass
class StackProcess:
    name: str
    argv: list[str]
    health_url: str | None
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, env: dict[str, str]) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own argv
                self.argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def wait_healthy(self, timeout: float, *, waiting: Callable[[], None] | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if waiting is not None:
                waiting()
            if self.process is not None and self.process.poll() is not None:
                raise CommandError(
                    f"{self.name} exited with {self.process.returncode}; see {self.log}"
                )
            if self.health_url is None:
                return
            try:
                with urllib.request.urlopen(self.health_url, timeout=1) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise CommandError(f"{self.name} did not become ready within {timeout}s; see {self.log}")

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class LocalStack:
    state_dir: Path
    kafka_port: int = 9092
    receiver_port: int = 8080
    integrex_port: int = 8091
    availity_port: int = 8092
    worklist_port: int = 8090
    identity_port: int = 9400
    role_health_ports: dict[str, int] = field(
        default_factory=lambda: {name: port for name, _, port in _ROLES}
    )
    trace_port: int = 4318
    processes: list[StackProcess] = field(default_factory=list)
    broker: KafkaBroker | None = None

    def _claimflow(self) -> str:
        found = shutil.which("claimflow") or str(Path(sys.executable).with_name("claimflow"))
        return found

    def _broker(self) -> KafkaBroker:
        return KafkaBroker(
            state_dir=self.state_dir / "kafka",
            port=self.kafka_port,
            controller_port=self.kafka_port + 1,
        )

    def ports(self) -> list[tuple[int, str, str]]:
        """(port, what listens there, how to change it) of every part the stack starts."""
        ports = [
            (self.receiver_port, "the receiver", "--port"),
            (self.integrex_port, "the Integrex sandbox", "stop what uses it"),
            (self.availity_port, "the Availity sandbox", "stop what uses it"),
            *(
                (port, f"the {name} health server", "stop what uses it")
                for name, port in self.role_health_ports.items()
            ),
        ]
        if self._local_traces():
            ports.append((self.trace_port, "the local trace sink", "stop what uses it"))
        if not self._broker().is_running():  # a broker of `claimflow kafka start` is reused
            ports[:0] = [
                (self.kafka_port, "Kafka", "--kafka-port"),
                (self.kafka_port + 1, "the Kafka controller", "--kafka-port (controller: +1)"),
            ]
        return ports

    def steps(self) -> list[str]:
        """What ``up`` brings up, in order: Kafka, its topics, then each process."""
        return ["kafka", "topics", *(process.name for process, _ in self._plan())]

    def environment(self, broker: KafkaBroker) -> dict[str, str]:
        env = dict(os.environ)
        documents = self.state_dir / "documents"
        seed_demo_documents(documents)
        env.update(
            {
                "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                "CLAIMFLOW_RECEIVER__PORT": str(self.receiver_port),
                "CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN": env.get(
                    "CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN", DEV_VERIFICATION_TOKEN
                ),
                "CLAIMFLOW_HANDLERS__LANE": env.get("CLAIMFLOW_HANDLERS__LANE", "test"),
                "CLAIMFLOW_HANDLERS__DOCUMENT_STORE": str(documents),
                "CLAIMFLOW_INTEGREX__BASE_URL": f"http://127.0.0.1:{self.integrex_port}",
                "CLAIMFLOW_INTEGREX__CLIENT_ID": _SANDBOX_CLIENT_ID,
                "CLAIMFLOW_INTEGREX__CLIENT_SECRET": _SANDBOX_CLIENT_SECRET,
                "CLAIMFLOW_INTEGREX__ENV": "T",
                "CLAIMFLOW_AVAILITY__BASE_URL": f"http://127.0.0.1:{self.availity_port}/availity",
                "CLAIMFLOW_AVAILITY__TOKEN_URL": f"http://127.0.0.1:{self.availity_port}/v1/token",
                "CLAIMFLOW_AVAILITY__CLIENT_ID": _SANDBOX_CLIENT_ID,
                "CLAIMFLOW_AVAILITY__CLIENT_SECRET": _SANDBOX_CLIENT_SECRET,
                "CLAIMFLOW_AVAILITY__SUBMITTER_ID": env.get(
                    "CLAIMFLOW_AVAILITY__SUBMITTER_ID", "477823"
                ),
                "CLAIMFLOW_AVAILITY__SUBMITTER_STATE": env.get(
                    "CLAIMFLOW_AVAILITY__SUBMITTER_STATE", "TX"
                ),
                "CLAIMFLOW_LOGGING__FORMAT": "json",
            }
        )
        if self._local_traces():
            # Every role exports to the local trace sink (claimflow.devstack.traces).
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{self.trace_port}"
            env.setdefault("OTEL_BSP_SCHEDULE_DELAY", "500")
            # Locally, every delivery's trace (production samples 1%: docs/operations.md).
            env.setdefault("CLAIMFLOW_TRACING__SAMPLE_RATIO", "1")
        return env

    def pipeline_plan(self) -> list[tuple[StackProcess, dict[str, str]]]:
        """The processes of the payment pipeline, in start order: the partner sandboxes, the
        migrations, the router and the handlers, then the receiver (no worklist, no identity)."""
        return [(p, env) for p, env in self._plan() if p.name not in ("identity", "worklist")]

    def _local_traces(self) -> bool:
        """Traces are on (``CLAIMFLOW_TRACING__ENABLED=true``) and no collector was named."""
        enabled = os.environ.get("CLAIMFLOW_TRACING__ENABLED", "").strip().lower()
        return enabled in ("1", "true", "yes", "on") and not os.environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )

    def _plan(self) -> list[tuple[StackProcess, dict[str, str]]]:
        cf = self._claimflow()
        logs = self.state_dir / "logs"
        plan: list[tuple[StackProcess, dict[str, str]]] = [
            (
                StackProcess(
                    "integrex-sandbox",
                    [
                        cf,
                        "sandbox",
                        "integrex",
                        "--port",
                        str(self.integrex_port),
                        "--client-id",
                        _SANDBOX_CLIENT_ID,
                        "--client-secret",
                        _SANDBOX_CLIENT_SECRET,
                        "--category-code",
                        _DEMO_CATEGORY,
                        "--status-code",
                        _DEMO_STATUS,
                    ],
                    f"http://127.0.0.1:{self.integrex_port}/api/health-check",
                    logs / "integrex-sandbox.log",
                ),
                {},
            ),
            (
                StackProcess(
                    "availity-sandbox",
                    [
                        cf,
                        "sandbox",
                        "availity",
                        "--port",
                        str(self.availity_port),
                        "--client-id",
                        _SANDBOX_CLIENT_ID,
                        "--client-secret",
                        _SANDBOX_CLIENT_SECRET,
                    ],
                    None,
                    logs / "availity-sandbox.log",
                ),
                {},
            ),
            (StackProcess("migrations", [cf, "db", "upgrade"], None, logs / "migrations.log"), {}),
        ]
        if self._local_traces():
            sink = [cf, "traces", "serve", "--port", str(self.trace_port)]
            sink += ["--file", str(self.state_dir / "traces.jsonl")]
            plan.insert(0, (StackProcess("traces", sink, None, logs / "traces.log"), {}))
        for name, argv, _ in _ROLES:
            port = self.role_health_ports[name]
            plan.append(
                (
                    StackProcess(
                        name, [cf, *argv], f"http://127.0.0.1:{port}/healthz", logs / f"{name}.log"
                    ),
                    {"CLAIMFLOW_HANDLERS__HEALTH_PORT": str(port)},
                )
            )
        identity = LocalIdentityProvider(port=self.identity_port)
        worklist_url = f"http://localhost:{self.worklist_port}"
        plan.append(
            (
                StackProcess(
                    "identity", identity.argv(), identity.discovery_url, logs / "identity.log"
                ),
                {},
            )
        )
        plan.append(
            (
                StackProcess(
                    "worklist", [cf, "web"], f"{worklist_url}/readyz", logs / "worklist.log"
                ),
                worklist_environment(identity.issuer, worklist_url, self.worklist_port),
            )
        )
        plan.append(
            (
                StackProcess(
                    "receiver",
                    [cf, "serve"],
                    f"http://127.0.0.1:{self.receiver_port}/readyz",
                    logs / "receiver.log",
                ),
                {},
            )
        )
        return plan

    def up(self, progress: Progress | None = None) -> None:
        """Start every part in order; ``progress`` advances once per part (``steps()``)."""
        done = progress.advance if progress is not None else lambda n=1: None
        broker = self._broker()
        print(f"kafka        starting on {broker.bootstrap_servers} ...", flush=True)
        broker.start(waiting=lambda: done(0))
        self.broker = broker
        done()
        import asyncio

        from router.topic_admin import ensure_topics

        asyncio.run(ensure_topics(broker.bootstrap_servers))
        done()
        base_env = self.environment(broker)
        for process, extra in self._plan():
            env = {**base_env, **extra}
            process.start(env)
            if process.name == "migrations":  # one-shot: it must finish, and well
                assert process.process is not None
                if process.process.wait(120) != 0:
                    raise CommandError(f"database migrations failed; see {process.log}")
                print(f"{'migrations':<12} done (log: {process.log})", flush=True)
                done()
                continue
            self.processes.append(process)
            process.wait_healthy(timeout=90, waiting=lambda: done(0))
            print(f"{process.name:<12} up   (log: {process.log})", flush=True)
            done()
        token = base_env["CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN"]
        print(
            "\nclaimflow local stack is up.\n"
            f"  webhook:  http://127.0.0.1:{self.receiver_port}/webhooks/redox"
            f"  (verification-token: {token})\n"
            f"  kafka:    {broker.bootstrap_servers}\n"
            f"  try:      .venv/bin/claimflow send-sample "
            f"http://127.0.0.1:{self.receiver_port}/webhooks/redox\n"
            "            .venv/bin/claimflow claims import sandboxes/data/redox-sample-claims.csv\n"
            "            .venv/bin/claimflow claim show 66729659983\n"
            f"  worklist: http://localhost:{self.worklist_port}  (sign in at the local "
            "provider as poster@example.org, who may add notes, or viewer@example.org)\n"
            f"  identity: http://127.0.0.1:{self.identity_port}  "
            "(local OpenID Connect provider, demo users only)\n"
            + (
                f"  traces:   .venv/bin/claimflow traces show  (spans in "
                f"{self.state_dir / 'traces.jsonl'})\n"
                if self._local_traces()
                else ""
            )
            + "Ctrl-C stops everything.",
            flush=True,
        )

    def down(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None

    def wait(self) -> int:
        """Block until a signal or until a role dies; return the exit code for the command."""
        stop = False

        def _on_signal(signum: int, _frame: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
        while not stop:
            for process in self.processes:
                if process.process is not None and process.process.poll() is not None:
                    print(f"{process.name} exited with {process.process.returncode}; stopping")
                    return 1
            time.sleep(0.5)
        return 0
