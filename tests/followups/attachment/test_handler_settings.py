"""``claimflow handle status-check|attachment`` refuse to start without their settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from followup_support import Kafka

from router.topics import TopicSet

pytestmark = [pytest.mark.kafka]

CLAIMFLOW = Path(sys.executable).with_name("claimflow")


@pytest.mark.parametrize(
    ("handler", "missing", "given"),
    [
        ("status-check", "CLAIMFLOW_INTEGREX__CLIENT_SECRET", {}),
        ("attachment", "CLAIMFLOW_AVAILITY__CLIENT_SECRET", {}),
        (
            "attachment",
            "CLAIMFLOW_AVAILITY__SUBMITTER_ID",
            {"CLAIMFLOW_AVAILITY__CLIENT_SECRET": "set-but-not-shown-Zm9v"},
        ),
    ],
)
def test_a_handler_without_its_settings_stops_naming_the_setting(
    handler: str, missing: str, given: dict[str, str], kafka: Kafka, topics: TopicSet
) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CLAIMFLOW_INTEGREX", "CLAIMFLOW_AVAILITY"))
    }
    env.update(
        {
            "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap,
            "CLAIMFLOW_KAFKA__TOPIC_PREFIX": topics.prefix,
            "CLAIMFLOW_HANDLERS__HEALTH_PORT": "0",
            "CLAIMFLOW_AVAILITY__CLIENT_ID": "someone",
            **given,
        }
    )

    done = subprocess.run(
        [str(CLAIMFLOW), "handle", handler], env=env, capture_output=True, timeout=60, check=False
    )

    assert done.returncode == 2
    stderr = done.stderr.decode()
    assert missing in stderr
    assert "set-but-not-shown-Zm9v" not in stderr + done.stdout.decode()
