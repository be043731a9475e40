"""The dead-letter round trip: dead-lettered, listed by a dry run, replayed once after a fix."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import pytest
from runtime_support import KafkaTools, eventually, make_settings

from claimflow.cli import main
from handlers.runtime import InboundMessage, PoisonMessageError, running_handler
from handlers.runtime.replay import REPLAYED_FROM_HEADER
from router.topics import HEADERS, TopicSet

pytestmark = pytest.mark.kafka


@dataclass
class FixableHandler:
    """Rejects every claim as poison until the fix is deployed."""

    name: str = "fixable"
    fixed: bool = False
    handled: list[InboundMessage] | None = None

    def topics(self, topic_set: TopicSet) -> list[str]:
        return [topic_set.claim_payments]

    async def handle(self, message: InboundMessage) -> None:
        if not self.fixed:
            raise PoisonMessageError("claim amount is not a decimal")
        if self.handled is None:
            self.handled = []
        self.handled.append(message)


def _replay(tools: KafkaTools, topic_set: TopicSet, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS": tools.bootstrap,
        "CLAIMFLOW_KAFKA__TOPIC_PREFIX": topic_set.prefix,
    }
    result = subprocess.run(
        [sys.executable, "-m", "claimflow.cli", "dlq", "replay", "fixable", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result


async def test_dead_letters_are_listed_by_a_dry_run_and_replayed_exactly_once(
    kafka_tools: KafkaTools, topic_set: TopicSet
) -> None:
    handler = FixableHandler()
    await kafka_tools.create_handler_topics(topic_set, handler.name)
    settings = make_settings(kafka_tools.bootstrap, topic_set.prefix)
    messages = [(f"m-{i}", f"PHI-MARKER {i}".encode()) for i in range(4)]
    await kafka_tools.produce(topic_set.claim_payments, messages)
    dead_letter = topic_set.handler_dead_letter(handler.name)

    async with running_handler(settings, lambda context: handler):
        await eventually(lambda: _count_is(kafka_tools, dead_letter, 4))

    dry = _replay(kafka_tools, topic_set, "--dry-run")
    assert dry.stdout.count("action=would-replay") == 4
    assert "error='PoisonMessageError: claim amount is not a decimal'" in dry.stdout
    assert "message_id=m-0" in dry.stdout
    assert "PHI-MARKER" not in dry.stdout + dry.stderr
    assert len(await kafka_tools.read_all(topic_set.claim_payments)) == 4  # nothing moved

    limited = _replay(kafka_tools, topic_set, "--limit", "1")
    assert limited.stdout.count("action=replayed") == 1
    rest = _replay(kafka_tools, topic_set)
    assert rest.stdout.count("action=replayed") == 3
    again = _replay(kafka_tools, topic_set)
    assert "action=replayed" not in again.stdout
    assert "PHI-MARKER" not in limited.stdout + rest.stdout + again.stdout

    source = await kafka_tools.read_all(topic_set.claim_payments)
    replayed = [r for r in source if REPLAYED_FROM_HEADER in dict(r.headers)]
    assert sorted(r.value for r in replayed) == sorted(value for _, value in messages)
    for record in replayed:
        headers = dict(record.headers)
        assert HEADERS.ATTEMPTS not in headers
        assert HEADERS.ERROR not in headers
        assert headers[REPLAYED_FROM_HEADER].startswith(dead_letter.encode())

    handler.fixed = True
    async with running_handler(settings, lambda context: handler):
        await eventually(lambda: len(handler.handled or []) == 4)
    assert sorted(m.message_id or "" for m in handler.handled or []) == ["m-0", "m-1", "m-2", "m-3"]


async def _count_is(tools: KafkaTools, topic: str, count: int) -> bool:
    return len(await tools.read_all(topic)) == count


def test_an_unknown_handler_name_exits_2_naming_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["handle", "no-such-handler"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unknown handler 'no-such-handler'; known:" in err
