"""The worklist with its local identity provider and a demo ledger, for the browser and the
screenshots: ``claimflow web`` as its own process, the way ``make run`` starts it.

Everything here is made up (worklist/demo.py); the session secret and client secret are
local-only values.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr

from claimflow.devstack.identity import LocalIdentityProvider
from claimflow.devstack.kafka import free_port
from claimflow.settings import DatabaseSettings

__all__ = ["DEV_CLIENT_ID", "RunningWorklist", "running_worklist", "worklist_environment"]

DEV_CLIENT_ID = "claimflow-worklist-local"
_DEV_CLIENT_SECRET = "local-worklist-client-secret"  # noqa: S105 - a local-only dev value
_DEV_SESSION_SECRET = "local-worklist-session-key-0123456789abcdef"  # noqa: S105 - local-only


@dataclass(frozen=True)
class RunningWorklist:
    url: str
    database_url: str
    provider: LocalIdentityProvider
    claims: dict[str, int]


def worklist_environment(issuer: str, url: str, port: int) -> dict[str, str]:
    """The settings of a local worklist (plain HTTP on localhost, so no Secure cookie)."""
    return {
        "CLAIMFLOW_WEB__ISSUER": issuer,
        "CLAIMFLOW_WEB__CLIENT_ID": DEV_CLIENT_ID,
        "CLAIMFLOW_WEB__CLIENT_SECRET": _DEV_CLIENT_SECRET,
        "CLAIMFLOW_WEB__SESSION_SECRET": _DEV_SESSION_SECRET,
        "CLAIMFLOW_WEB__PUBLIC_URL": url,
        "CLAIMFLOW_WEB__HOST": "127.0.0.1",
        "CLAIMFLOW_WEB__PORT": str(port),
        "CLAIMFLOW_WEB__SECURE_COOKIES": "false",
    }


async def _seed(database_url: str) -> dict[str, int]:
    from handlers.ledger.database import create_engine, upgrade
    from worklist.demo import seed_demo_ledger, seed_review_example
    from worklist.followup_state import upgrade_partner_tables

    engine = create_engine(DatabaseSettings(url=SecretStr(database_url)))
    try:
        await upgrade(engine)
        await upgrade_partner_tables(engine)
        ids = await seed_demo_ledger(engine)
        return ids | await seed_review_example(engine)
    finally:
        await engine.dispose()


def seed_demo(database_url: str) -> dict[str, int]:
    return asyncio.run(_seed(database_url))


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the worklist exited ({process.returncode})")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the worklist did not answer in time")


@contextmanager
def running_worklist(
    state: Path, *, provider: LocalIdentityProvider | None = None, timeout: float = 60.0
) -> Iterator[RunningWorklist]:
    """Provider (unless one is running already), demo ledger (SQLite under ``state``) and
    ``claimflow web``; what it started is stopped afterwards."""
    state.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite+aiosqlite:///{state / 'worklist-demo.db'}"
    own_provider = provider is None
    provider = provider or LocalIdentityProvider(port=free_port(), log_file=state / "oidc.log")
    port = free_port()
    url = f"http://localhost:{port}"
    environment = {
        **os.environ,
        **worklist_environment(provider.issuer, url, port),
        "CLAIMFLOW_DATABASE__URL": database_url,
        "CLAIMFLOW_LOGGING__FORMAT": "json",
    }
    provider_started = _start_in_thread(provider) if own_provider else (lambda: None)
    claims = seed_demo(database_url)
    with open(state / "worklist.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "claimflow.cli", "web"], env=environment, stdout=log, stderr=log
        )
    try:
        provider_started()
        _wait_for(f"{url}/healthz", process, timeout)
        yield RunningWorklist(url, database_url, provider, claims)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if own_provider:
            provider.stop()


def _start_in_thread(provider: LocalIdentityProvider) -> Callable[[], None]:
    """Start the provider while the ledger is seeded; the returned call waits for it."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1)
    started = pool.submit(provider.start)

    def wait() -> None:
        try:
            started.result()
        finally:
            pool.shutdown()

    return wait
