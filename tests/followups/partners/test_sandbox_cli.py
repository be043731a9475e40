"""`claimflow sandbox integrex|availity` serves the sandbox the local stack talks to."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from partner_support import (
    availity_settings_for,
    integrex_settings_for,
    reference_request,
    sample_submission,
)

from claimflow.devstack.kafka import free_port
from handlers.followups.partners.availity import AvailityClient
from handlers.followups.partners.integrex import IntegrexClient

CLAIMFLOW = Path(sys.executable).parent / "claimflow"
SECRET = "cli-sandbox-secret-dGVzdA"


@contextmanager
def sandbox_process(partner: str, probe: str, *, secret_flag: bool = False) -> Iterator[str]:
    port = free_port()
    command = [str(CLAIMFLOW), "sandbox", partner, "--port", str(port), "--client-id", "cli-test"]
    env = dict(os.environ)
    if secret_flag:  # as the local stack (claimflow dev up) starts it
        command += ["--client-secret", SECRET]
    else:
        env["CLAIMFLOW_SANDBOX_CLIENT_SECRET"] = SECRET
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}{probe}", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"claimflow sandbox {partner} did not start")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_cli_serves_an_integrex_sandbox_the_client_can_use() -> None:
    with sandbox_process("integrex", "/api/health-check") as url:
        settings = integrex_settings_for(url, client_id="cli-test", client_secret=SECRET)
        async with IntegrexClient(settings=settings) as client:
            assert await client.health_check()
            result = await client.check_claim_status(reference_request())
    assert result.claim_info[0].category_code == "A4"


async def test_cli_serves_an_availity_sandbox_the_client_can_use() -> None:
    with sandbox_process("availity", "/_sandbox/stats", secret_flag=True) as url:
        settings = availity_settings_for(url, client_id="cli-test", client_secret=SECRET)
        async with AvailityClient(settings=settings) as client:
            request_id = await client.submit_attachment(sample_submission())
            status = await client.attachment_status(request_id)
    assert (status.status, status.final) == ("SUBMITTED", False), "no invented statuses"
