"""`claimflow serve` and `claimflow send-sample` as commands."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from receiver_support import CLAIMFLOW, TOKEN, ServeProcess

from claimflow.devstack.kafka import KafkaBroker, free_port
from sandboxes.redox_sender import load_sample


def test_serve_without_the_token_stops_with_one_line_naming_it() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMFLOW_")}

    result = subprocess.run(
        [str(CLAIMFLOW), "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr == (
        "claimflow: missing required secret CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN: set it, "
        "or mount it as a file in CLAIMFLOW_SECRETS_DIR\n"
    )


def test_serve_with_a_broken_route_table_stops_with_one_line_naming_the_entry(
    tmp_path: Path,
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("routes:\n  - data_model: Claim\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMFLOW_")}
    env["CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN"] = TOKEN
    env["CLAIMFLOW_ROUTER__ROUTE_TABLE"] = str(routes)

    result = subprocess.run(
        [str(CLAIMFLOW), "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"claimflow: {routes}: routes[0]")


@pytest.mark.kafka
@pytest.mark.slow
def test_send_sample_delivers_redox_sample_to_a_running_receiver(
    kafka_broker: KafkaBroker, serve_process: list[ServeProcess], tmp_path: Path
) -> None:
    receiver = ServeProcess(kafka_broker.bootstrap_servers, tmp_path / "receiver.log")
    serve_process.append(receiver)
    receiver.start()

    result = subprocess.run(
        [str(CLAIMFLOW), "send-sample", receiver.url, "--fresh-log-id"],
        env={**os.environ, "CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN": TOKEN},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].endswith(": delivered")


def test_serve_without_a_reachable_broker_exits_nonzero_naming_the_cause() -> None:
    env = {
        **os.environ,
        "CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN": TOKEN,
        "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "CLAIMFLOW_LOGGING__FORMAT": "json",
    }

    result = subprocess.run(
        [str(CLAIMFLOW), "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 3  # uvicorn's STARTUP_FAILURE
    assert "cannot reach Kafka" in result.stderr


def test_packaged_sample_is_the_fixture(sample_payload: dict[str, Any]) -> None:
    assert load_sample() == sample_payload
