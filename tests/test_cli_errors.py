"""How commands fail: one line for a person, one structured log line for services, exit codes."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from claimflow.cli import build_parser, main
from claimflow.devstack.kafka import free_port
from claimflow.errors import (
    BadSetting,
    BrokerRefusedAuth,
    DatabaseUnavailable,
    ExitCode,
    FileProblem,
    PartnerUnavailable,
    database_location,
    from_exception,
)

CLAIMFLOW = Path(sys.executable).parent / "claimflow"


def _bare_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMFLOW_")}
    return {
        **env,
        "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "CLAIMFLOW_HANDLERS__HEALTH_PORT": "0",
        "CLAIMFLOW_LOGGING__FORMAT": "json",
        **settings,
    }


def _records(stdout: str) -> list[dict[str, object]]:
    """The log records a service wrote to stdout; every line must be one."""
    return [json.loads(line) for line in stdout.splitlines()]


SERVICES = {
    "serve": ["serve", "--port", str(free_port())],
    "route": ["route"],
    "handle ledger": ["handle", "ledger"],
}


@pytest.mark.parametrize("command", sorted(SERVICES))
def test_a_service_without_a_broker_logs_one_structured_line_and_says_so_in_one_line(
    command: str, tmp_path: Path
) -> None:
    env = _bare_env(
        CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN="a-token",
        CLAIMFLOW_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}",
    )
    result = subprocess.run(
        [str(CLAIMFLOW), *SERVICES[command]],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == ExitCode.UNAVAILABLE
    assert result.stderr.startswith("claimflow: cannot reach Kafka at 127.0.0.1:")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stdout + result.stderr
    failed = [r for r in _records(result.stdout) if r["event"] == "command_failed"]
    assert len(failed) == 1
    assert failed[0]["level"] == "error"
    assert failed[0]["error"] == "BrokerUnavailable"
    assert failed[0]["exit_code"] == ExitCode.UNAVAILABLE


def test_serve_without_a_broker_keeps_the_traceback_out_of_the_startup_failure_log(
    tmp_path: Path,
) -> None:
    env = _bare_env(CLAIMFLOW_RECEIVER__VERIFICATION_TOKEN="a-token")
    result = subprocess.run(
        [str(CLAIMFLOW), "serve", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    events = [str(r["event"]) for r in _records(result.stdout)]
    assert "Application startup failed. Exiting." in events
    assert not [e for e in events if "Traceback" in e]


def test_the_traceback_of_a_service_failure_is_logged_at_debug_only(tmp_path: Path) -> None:
    env = _bare_env(CLAIMFLOW_LOGGING__LEVEL="DEBUG")
    result = subprocess.run(
        [str(CLAIMFLOW), "route"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == ExitCode.UNAVAILABLE
    assert result.stderr.count("\n") == 1
    debug = [r for r in _records(result.stdout) if r["event"] == "command_failed_traceback"]
    assert len(debug) == 1
    assert debug[0]["level"] == "debug"
    assert "KafkaConnectionError" in str(debug[0]["exception"])


def test_claim_show_on_a_new_sqlite_ledger_creates_its_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLAIMFLOW_DATABASE__URL", raising=False)

    assert main(["claim", "show", "X"]) == ExitCode.FAILED
    assert capsys.readouterr().err == (
        "claimflow: no claim 'X' in the ledger; `claimflow claims import` adds claims\n"
    )
    assert (tmp_path / "claimflow-ledger.db").is_file()


async def _fresh_database(postgres_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    admin = create_async_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    return make_url(postgres_url).set(database=name).render_as_string(hide_password=False)


@pytest.mark.postgres
async def test_postgresql_is_never_migrated_implicitly_and_says_which_command_does(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = await _fresh_database(postgres_url, "cli_schema")
    monkeypatch.setenv("CLAIMFLOW_DATABASE__URL", url)

    code = await _in_thread(["claim", "show", "X"])
    err = capsys.readouterr().err
    assert code == ExitCode.UNAVAILABLE
    assert "is not migrated to this release; run `claimflow db upgrade`" in err
    assert database_location(url) in err

    assert await _in_thread(["db", "upgrade"]) == ExitCode.OK
    assert await _in_thread(["claim", "show", "X"]) == ExitCode.FAILED  # no such claim

    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '9999_later'"))
    finally:
        await engine.dispose()
    capsys.readouterr()
    assert await _in_thread(["claim", "show", "X"]) == ExitCode.USAGE
    assert "has schema 9999_later, newer than this claimflow knows" in capsys.readouterr().err


async def _in_thread(argv: list[str]) -> int:
    """``main`` runs its own event loop: call it off this test's loop."""
    import asyncio

    return await asyncio.to_thread(main, argv)


def test_version_comes_from_the_package_and_the_checkout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"claimflow {version('claimflow')}")
    if (Path(__file__).parents[1] / ".git").exists():
        assert " (git " in out


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += _parsers(child)
    return found


def test_every_command_help_shows_an_example() -> None:
    missing = [p.prog for p in _parsers(build_parser()) if "example: " not in (p.epilog or "")]
    assert missing == []


def test_an_invalid_setting_names_the_variable_never_its_value() -> None:
    class Probe(BaseModel):
        port: int = Field(ge=1)

    with pytest.raises(ValidationError) as raised:
        Probe.model_validate({"port": "not-a-port-4111"})
    error = from_exception(raised.value, None)

    assert isinstance(error, BadSetting)
    assert error.exit_code == ExitCode.USAGE
    assert str(error).startswith("invalid setting CLAIMFLOW_PORT: ")
    assert "4111" not in str(error)


def test_a_setting_of_one_group_is_named_with_its_group() -> None:
    from claimflow.settings import ReceiverSettings

    with pytest.raises(ValidationError) as raised:
        ReceiverSettings.model_validate({"port": 0})
    error = from_exception(raised.value, None)
    assert str(error).startswith("invalid setting CLAIMFLOW_RECEIVER__PORT: ")


def test_kafka_refusing_our_credentials_is_a_configuration_error() -> None:
    from aiokafka.errors import SaslAuthenticationFailed

    error = from_exception(SaslAuthenticationFailed(), None)
    assert isinstance(error, BrokerRefusedAuth)
    assert error.exit_code == ExitCode.USAGE
    assert "CLAIMFLOW_KAFKA__SASL_USERNAME" in str(error)


def test_a_partner_that_does_not_answer_is_unavailable_naming_its_url() -> None:
    request = httpx.Request("POST", "http://127.0.0.1:8091/oauth/token?secret=no")
    error = from_exception(httpx.ConnectError("refused", request=request), None)
    assert isinstance(error, PartnerUnavailable)
    assert error.exit_code == ExitCode.UNAVAILABLE
    assert "http://127.0.0.1:8091/oauth/token (ConnectError)" in str(error)
    assert "secret" not in str(error)


def test_a_missing_file_is_named_with_the_reason() -> None:
    error = from_exception(FileNotFoundError(2, "No such file or directory", "claims.csv"), None)
    assert isinstance(error, FileProblem)
    assert str(error).startswith("claims.csv: no such file or directory")


def test_a_database_url_is_shown_without_its_password() -> None:
    shown = database_location("postgresql+asyncpg://claimflow:hunter2@db:5432/ledger")
    assert shown == "postgresql+asyncpg://claimflow:***@db:5432/ledger"


def test_an_error_is_found_among_the_causes() -> None:
    try:
        try:
            raise DatabaseUnavailable("cannot open the ledger database")
        except DatabaseUnavailable as cause:
            raise RuntimeError("wrapped") from cause
    except RuntimeError as exc:
        error = from_exception(exc, None)
    assert isinstance(error, DatabaseUnavailable)
    assert error.exit_code == ExitCode.UNAVAILABLE


def test_a_database_that_fails_during_a_command_is_told_with_its_address_and_exit_code_3() -> None:
    from sqlalchemy.exc import IntegrityError, OperationalError

    from claimflow.settings import Settings

    settings = Settings.model_validate(
        {"database": {"url": "postgresql+asyncpg://ledger:db-secret-9@db.internal:5432/ledger"}}
    )
    gone = from_exception(OperationalError("SELECT 1", {}, ConnectionResetError()), settings)
    refused = from_exception(IntegrityError("INSERT", {}, ValueError("dup")), settings)

    assert isinstance(gone, DatabaseUnavailable)
    assert gone.exit_code == ExitCode.UNAVAILABLE
    assert "postgresql+asyncpg://ledger:***@db.internal:5432/ledger" in str(gone)
    assert refused is not None
    assert refused.exit_code == ExitCode.FAILED
    assert "refused a statement (IntegrityError)" in str(refused)
    assert "db-secret-9" not in str(gone) + str(refused)
