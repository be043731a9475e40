"""Schemathesis, a fuzzer we did not write, finds no gap between /openapi.json and the receiver.

It runs as a user would: its own CLI against `claimflow serve` (real HTTP, real broker), every
check it has, every phase (the schema's examples, coverage of each keyword, random fuzzing,
stateful links), with a fixed seed so a failure reproduces. Fuzzing repeats until a time
budget is spent: a few hundred cases on a quiet machine, fewer on a busy one, in about a minute.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from receiver_support import TOKEN, ServeProcess

from claimflow.devstack.kafka import KafkaBroker

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
MAX_EXAMPLES = 50  # per operation and round of fuzzing
MAX_SECONDS = 60  # the whole run's budget: fuzzing repeats until it is spent
SEED = 20261130


def test_the_receiver_conforms_to_its_openapi_document_under_schemathesis(
    kafka_broker: KafkaBroker, serve_process: list[ServeProcess], tmp_path: Path
) -> None:
    receiver = ServeProcess(kafka_broker.bootstrap_servers, tmp_path / "receiver.log")
    serve_process.append(receiver)
    receiver.start()

    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            receiver.base("/openapi.json"),
            *("--checks", "all"),
            *("--max-examples", str(MAX_EXAMPLES)),
            *("--max-time", str(MAX_SECONDS)),
            *("--seed", str(SEED)),
            *("--header", f"verification-token: {TOKEN}"),
            *("--request-timeout", "10"),
            # Generating whole PaymentBatch bodies is slow on a busy machine; it is not a defect.
            "--suppress-health-check=too_slow",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=4 * MAX_SECONDS,
        check=False,
        cwd=tmp_path,
    )

    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " generated, " in run.stdout, run.stdout[-3000:]
    print(run.stdout[-1500:])  # the summary: phases run and cases generated


async def test_a_405_on_the_webhook_path_allows_get_and_post(client: httpx.AsyncClient) -> None:
    answer = await client.delete("/webhooks/redox")

    assert answer.status_code == 405
    allowed = {method.strip() for method in answer.headers["allow"].split(",")}
    assert {"GET", "POST"} <= allowed
