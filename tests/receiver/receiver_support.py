"""Test support for the receiver: running the app (in-process or as `claimflow serve`) and
reading what it put in Kafka."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from claimflow.devstack.kafka import free_port
from claimflow.settings import KafkaSettings, ReceiverSettings, Settings

TOKEN = "test-verification-token"
CLAIMFLOW = Path(sys.executable).parent / "claimflow"
TEST_PAYMENT_BATCH_TOPIC = "claimflow.test.redox.claim.payment-batch.v1"


def receiver_settings(bootstrap_servers: str, **receiver: Any) -> Settings:
    return Settings(
        kafka=KafkaSettings(bootstrap_servers=bootstrap_servers, publish_timeout_seconds=3.0),
        receiver=ReceiverSettings(verification_token=SecretStr(TOKEN), **receiver),
    )


@asynccontextmanager
async def running(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan as a server would, and give a client that talks to it.

    httpx's ASGITransport does not run the lifespan, nor pass its state to requests: this does
    both, by the ASGI lifespan protocol.
    """
    state: dict[str, Any] = {}
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()

    async def send(message: Message) -> None:
        await from_app.put(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}

    async def lifespan() -> None:
        await app(scope, to_app.get, send)

    task = asyncio.create_task(lifespan())
    await to_app.put({"type": "lifespan.startup"})
    started = await from_app.get()
    if started["type"] != "lifespan.startup.complete":
        await task
        raise RuntimeError(f"start-up failed: {started.get('message')}")

    async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, "state": dict(state)}, receive, send)

    transport = httpx.ASGITransport(app=with_state)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:
            yield client
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await from_app.get()
        await task


async def read_messages(
    bootstrap_servers: str, topic: str, *, key: str | None = None
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every committed message of ``topic`` (with ``key`` when given), from the beginning."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + 20
        while not consumer.assignment():  # without a group, every partition, once known
            assert time.monotonic() < deadline, f"no topic {topic}"
            await asyncio.sleep(0.05)
        partitions = sorted(consumer.assignment())
        end = await consumer.end_offsets(partitions)
        found: list[ConsumerRecord[bytes, bytes]] = []
        while await _behind(consumer, end):
            assert time.monotonic() < deadline, "could not read the topic to its end"
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                found.extend(r for r in records if key is None or r.key == key.encode())
        return found
    finally:
        await consumer.stop()


async def _behind(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> bool:
    for tp, offset in end.items():
        if await consumer.position(tp) < offset:
            return True
    return False


def headers_of(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    return {name: value.decode() for name, value in record.headers}


@dataclass
class ServeProcess:
    """`claimflow serve` on a free loopback port, its output collected in a file."""

    bootstrap_servers: str
    log_file: Path
    env: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/redox"

    def base(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, timeout: float = 30.0) -> None:
        env = {
            **os.environ,
            "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "CLAIMFLOW_KAFKA__PUBLISH_TIMEOUT_SECONDS": "3",
            "CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN": TOKEN,
            "CLAIMFLOW_RECEIVER__RETRY_AFTER_SECONDS": "1",
            "CLAIMFLOW_LOGGING__FORMAT": "json",
            **self.env,
        }
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen(
                [str(CLAIMFLOW), "serve", "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_file.read_text()
            try:
                with urllib.request.urlopen(self.base("/readyz"), timeout=1) as answer:  # noqa: S310 - loopback
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"receiver not ready in {timeout}s:\n{self.log_file.read_text()}")

    def stop(self) -> bool:
        """SIGTERM, as Kubernetes stops a pod; True when it shut down cleanly.

        uvicorn re-raises the SIGTERM it handled once it has shut down, so a clean stop ends
        with -SIGTERM; a crash or a failed start-up ends with a positive code.
        """
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code in (0, -signal.SIGTERM)
