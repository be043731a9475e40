"""Start-up failures: reported, and every client the process opened is closed."""

from __future__ import annotations

import gc

import pytest
from aiokafka.errors import KafkaConnectionError
from runtime_support import ScriptedHandler, make_settings

from claimflow.devstack.kafka import free_port
from handlers.runtime import running_handler
from router.topics import TopicSet


async def test_a_handler_that_cannot_reach_kafka_fails_start_up_and_closes_its_clients() -> None:
    settings = make_settings(f"127.0.0.1:{free_port()}", "unreachable.")
    handler = ScriptedHandler(TopicSet(prefix="unreachable."))

    with pytest.raises(KafkaConnectionError):
        async with running_handler(settings, lambda context: handler):
            pytest.fail("the handler must not start without Kafka")
    gc.collect()  # an unclosed aiokafka client would warn here, and warnings are errors
