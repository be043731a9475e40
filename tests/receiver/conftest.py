"""Fixtures of the receiver tests: an app on the session broker, and a sender."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from receiver_support import TOKEN, ServeProcess, receiver_settings, running

from claimflow.devstack.kafka import KafkaBroker
from receiver.app import create_app
from sandboxes.redox_sender import RedoxSender


@pytest.fixture
async def client(kafka_broker: KafkaBroker) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to a running receiver app (ASGI, session broker)."""
    app = create_app(receiver_settings(kafka_broker.bootstrap_servers, max_body_bytes=64 * 1024))
    async with running(app) as client:
        yield client


@pytest.fixture
async def sender(client: httpx.AsyncClient) -> AsyncIterator[RedoxSender]:
    """A Redox sender with our token, posting through ``client``."""
    async with RedoxSender(token=TOKEN, client=client, backoff_seconds=0.1) as sender:
        yield sender


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[list[ServeProcess]]:
    """`claimflow serve` processes a test starts; all stopped afterwards."""
    started: list[ServeProcess] = []
    yield started
    for process in started:
        if process.process is not None:
            process.stop()
