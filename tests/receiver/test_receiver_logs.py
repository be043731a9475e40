"""No PHI of the sample reaches a log line of `claimflow serve`, whatever the outcome."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from receiver_support import TOKEN, ServeProcess

from claimflow.devstack.kafka import KafkaBroker
from sandboxes.redox_sender import RedoxSender

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def phi_values(payload: dict[str, Any]) -> set[str]:
    """Every string under each Patient (identifiers, demographics, address, phones).

    Values shorter than 4 characters are left out: two-letter codes ("WI", "US", "en", "MR")
    identify no one and occur inside ordinary words of any log line.
    """
    patients = [
        payment["Patient"]
        for transaction in payload["Transactions"]
        for payment in transaction["Payments"]
    ]
    return {text for patient in patients for text in _strings(patient) if len(text) >= 4}


async def test_logs_of_a_run_with_the_sample_hold_no_phi(
    kafka_broker: KafkaBroker,
    serve_process: list[ServeProcess],
    tmp_path: Path,
    sample_payload: dict[str, Any],
) -> None:
    phi = phi_values(sample_payload)
    assert {"Timothy", "Bixby", "2008-01-06", "101-01-0001", "+18088675301", "53566"} <= phi
    log_file = tmp_path / "receiver.log"
    receiver = ServeProcess(
        kafka_broker.bootstrap_servers, log_file, env={"CLAIMFLOW_LOGGING__LEVEL": "DEBUG"}
    )
    serve_process.append(receiver)
    receiver.start()
    invalid = copy.deepcopy(sample_payload)
    demographics = invalid["Transactions"][0]["Payments"][0]["Patient"]["Demographics"]
    demographics["DOB"] = "Timothy Bixby 101-01-0001"
    demographics["FirstName"] = ["Timothy"]

    async with RedoxSender(token=TOKEN) as sender:
        assert (await sender.deliver(receiver.url, sample_payload, fresh_log_id=True)).delivered
        assert (await sender.post(receiver.url, invalid)).status_code == 422
        assert (
            await sender.post(receiver.url, json.dumps(sample_payload)[:-9].encode())
        ).status_code == 400
        assert (await sender.verify(receiver.url, "challenge-1")).status_code == 200
    async with RedoxSender(token="wrong") as impostor:
        assert (await impostor.post(receiver.url, sample_payload)).status_code == 401
    assert receiver.stop()

    output = log_file.read_text()
    lines = output.splitlines()
    assert sum('"event": "webhook request"' in line for line in lines) == 5
    assert all(json.loads(line) for line in lines), "every line is JSON"
    leaked = {value for value in phi if value in output}
    assert leaked == set()
