"""A local single-node Apache Kafka broker in KRaft mode, for the dev stack and the tests.

The broker jars come from Maven Central (``mvn dependency:copy-dependencies`` over
``kafka-broker.pom.xml``) into a cache outside git (``$CLAIMFLOW_CACHE_DIR``, default
``~/.cache/claimflow``). Each broker keeps its data, config and log under its own state directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["KAFKA_VERSION", "KafkaBroker", "KafkaToolingError", "cache_dir", "ensure_kafka_jars"]

KAFKA_VERSION = "3.9.1"
_POM = Path(__file__).with_name("kafka-broker.pom.xml")

_LOG4J = """\
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
"""


class KafkaToolingError(RuntimeError):
    """The local broker could not be fetched, formatted or started."""


def cache_dir() -> Path:
    return Path(os.environ.get("CLAIMFLOW_CACHE_DIR", Path.home() / ".cache" / "claimflow"))


def ensure_kafka_jars(version: str = KAFKA_VERSION) -> Path:
    """Return the directory of the broker's jars, fetching them with Maven on first use."""
    libs = cache_dir() / f"kafka-{version}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaToolingError("Maven (mvn) is needed to fetch the Kafka broker jars")
    work = libs.parent
    work.mkdir(parents=True, exist_ok=True)
    pom = work / "pom.xml"
    pom.write_text(_POM.read_text().replace("@KAFKA_VERSION@", version))
    partial = work / "libs.partial"
    shutil.rmtree(partial, ignore_errors=True)
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={partial}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise KafkaToolingError(f"fetching Kafka {version} with Maven failed:\n{result.stdout}")
    shutil.rmtree(libs, ignore_errors=True)
    partial.rename(libs)
    marker.touch()
    return libs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class KafkaBroker:
    """One KRaft broker+controller on loopback, with its state under ``state_dir``."""

    state_dir: Path
    port: int = 9092
    controller_port: int = 9093
    heap: str = "512m"
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "broker.log"

    def _java(self) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise KafkaToolingError("a Java runtime (java, 17 or newer) is needed to run Kafka")
        libs = ensure_kafka_jars()
        return [
            java,
            f"-Xmx{self.heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.state_dir / 'log4j.properties'}",
            "-cp",
            f"{libs}/*",
        ]

    def _write_config(self) -> Path:
        data = self.state_dir / "data"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(data),
            "num.partitions": "3",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "10",
            "group.initial.rebalance.delay.ms": "0",
            "log.flush.interval.messages": "1",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms": "5000",
            "transaction.remove.expired.transaction.cleanup.interval.ms": "5000",
        }
        config = self.state_dir / "server.properties"
        config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.state_dir / "log4j.properties").write_text(_LOG4J)
        return config

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None and _port_open(self.port)

    def start(self, timeout: float = 90.0, *, waiting: Callable[[], None] | None = None) -> None:
        """Format the storage on first start, launch the broker and wait until it serves.

        ``waiting`` is called on each poll while the broker comes up (a progress display).
        """
        if self.is_running():
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        java = self._java()
        if not (self.state_dir / "data" / "meta.properties").exists():
            subprocess.run(  # noqa: S603 - fixed argv, no shell
                [
                    *java,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    str(uuid.uuid4()),
                    "-c",
                    str(config),
                    "--ignore-formatted",
                ],
                check=True,
                capture_output=True,
            )
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [*java, "kafka.Kafka", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._process = proc
        self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise KafkaToolingError(f"Kafka exited with {proc.returncode}; see {self.log_file}")
            if _port_open(self.port) and b"Kafka Server started" in self.log_file.read_bytes():
                return
            if waiting is not None:
                waiting()
            time.sleep(0.2)
        raise KafkaToolingError(f"Kafka did not start within {timeout}s; see {self.log_file}")

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the broker gracefully (SIGTERM), killing it after ``timeout``."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            self._reap(pid)
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            self._reap(pid)
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """Kill the broker at once (SIGKILL), as a crash would."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            self._reap(pid, wait=True)
            self.pid_file.unlink(missing_ok=True)

    def _reap(self, pid: int, *, wait: bool = False) -> None:
        """Collect an exited child so that it does not linger as a zombie."""
        if self._process is not None and self._process.pid == pid:
            if wait:
                self._process.wait()
                self._process = None
            elif self._process.poll() is not None:
                self._process = None
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0 if wait else os.WNOHANG)
