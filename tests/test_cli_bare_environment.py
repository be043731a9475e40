"""Every subcommand, tried in a bare environment, answers a person in one line with its exit code.

Bare: no broker (the bootstrap address is a closed loopback port), no database (a PostgreSQL
URL on a closed port), no secrets, a read-only working directory and home. The commands come
from the argparse parser itself, so a new command without a case here fails
``test_every_subcommand_has_a_case``. Exit codes: docs/operations.md, "Exit codes".
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from claimflow.cli import build_parser
from claimflow.devstack.kafka import free_port
from claimflow.errors import ExitCode

CLAIMFLOW = Path(sys.executable).parent / "claimflow"
DB_PASSWORD = "bare-db-password"  # must never be printed
TIMEOUT_SECONDS = 45  # generous for a busy 2-core machine; each takes 1-2 s on a quiet one
TAKEN = "{taken}"  # replaced by a port the test holds open
CLOSED = "{closed}"  # replaced by a port nothing listens on


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    code: ExitCode
    says: str  # part of the one line on stderr


# The handlers that `claimflow handle NAME` can run are listed by handlers.registry.
CASES: dict[str, Case] = {
    "serve": Case((), ExitCode.USAGE, "missing required secret"),
    "route": Case((), ExitCode.UNAVAILABLE, "cannot reach Kafka at 127.0.0.1:"),
    "schemas export": Case((), ExitCode.USAGE, "docs: permission denied"),
    "handle ledger": Case((), ExitCode.UNAVAILABLE, "cannot reach Kafka"),
    "handle status-check": Case((), ExitCode.UNAVAILABLE, "cannot reach Kafka"),
    "handle attachment": Case((), ExitCode.UNAVAILABLE, "cannot reach Kafka"),
    "dlq replay": Case(("ledger", "--dry-run"), ExitCode.UNAVAILABLE, "cannot reach Kafka"),
    "claims import": Case(("claims.csv",), ExitCode.USAGE, "cannot read the claims file"),
    "ledger post": Case(
        ("remittance.json",), ExitCode.USAGE, "cannot read the remittance file remittance.json"
    ),
    "claim show": Case(("A-1",), ExitCode.UNAVAILABLE, "postgresql+asyncpg://claimflow:***@"),
    "db upgrade": Case((), ExitCode.UNAVAILABLE, "cannot open the ledger database"),
    "sandbox integrex": Case(("--port", TAKEN), ExitCode.USAGE, "already in use"),
    "sandbox availity": Case(("--port", TAKEN), ExitCode.USAGE, "already in use"),
    "send-sample": Case(
        (f"http://127.0.0.1:{CLOSED}/webhooks/redox", "--attempts", "1"),
        ExitCode.UNAVAILABLE,
        "nothing answers at",
    ),
    "kafka start": Case(("--port", TAKEN), ExitCode.USAGE, "already in use"),
    "kafka stop": Case((), ExitCode.OK, ""),
    "kafka status": Case((), ExitCode.FAILED, ""),  # prints "stopped" on stdout
    "topics create": Case((), ExitCode.UNAVAILABLE, "cannot reach Kafka"),
    "web": Case((), ExitCode.USAGE, "missing required setting CLAIMFLOW_WEB__ISSUER"),
    "review list": Case((), ExitCode.UNAVAILABLE, "cannot open the ledger database"),
    "review show": Case(("m-1",), ExitCode.UNAVAILABLE, "cannot open the ledger database"),
    "review post": Case(
        ("m-1", "--claim", "1"), ExitCode.UNAVAILABLE, "cannot open the ledger database"
    ),
    "review dismiss": Case(
        ("m-1", "--as", "park", "--note", "n"),
        ExitCode.UNAVAILABLE,
        "cannot open the ledger database",
    ),
    "review note": Case(
        ("1", "--note", "n"), ExitCode.UNAVAILABLE, "cannot open the ledger database"
    ),
    "review status-check": Case(
        ("1", "--why", "w"), ExitCode.UNAVAILABLE, "cannot open the ledger database"
    ),
    "review attachments": Case((), ExitCode.UNAVAILABLE, "cannot open the ledger database"),
    "review mark-attachment": Case(
        ("ACN1", "--as", "not-sent", "--why", "w"),
        ExitCode.UNAVAILABLE,
        "cannot open the ledger database",
    ),
    "dev up": Case(("--port", TAKEN, "--kafka-port", TAKEN), ExitCode.USAGE, "already in use"),
    "traces serve": Case(("--port", TAKEN), ExitCode.USAGE, "already in use"),
    "traces show": Case((), ExitCode.OK, ""),  # prints "no spans in ..." on stdout
}


def _subparsers(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """Every runnable command line: subcommands, and each choice of a leaf's positional."""
    sub = _subparsers(parser)
    if sub is not None:
        for name, child in sub.choices.items():
            yield from _commands(child, (*prefix, name))
        return
    if prefix == ("handle",):
        from handlers.registry import HANDLER_FACTORIES

        for handler in sorted(HANDLER_FACTORIES):
            yield f"handle {handler}"
        return
    for action in parser._actions:
        if not action.option_strings and action.choices is not None:
            for choice in action.choices:
                yield " ".join((*prefix, str(choice)))
            return
    yield " ".join(prefix)


COMMANDS = sorted(_commands(build_parser()))


# Root ignores file permissions; the child drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
# from its bounding set (prctl PR_CAPBSET_DROP) and then execs claimflow without them, so a
# read-only directory is read-only for it too. (A wrapper, not preexec_fn: the cases run in
# threads.)
_READ_ONLY_ROOT = (
    "import ctypes, os, sys\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "for capability in (1, 2):\n"
    "    if libc.prctl(24, capability, 0, 0, 0) != 0:\n"
    "        raise OSError(ctypes.get_errno(), 'prctl(PR_CAPBSET_DROP)')\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    wrapper = [sys.executable, "-c", _READ_ONLY_ROOT] if os.geteuid() == 0 else []
    return subprocess.run(
        [*wrapper, str(CLAIMFLOW), *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


@pytest.fixture(scope="module")
def results(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, subprocess.CompletedProcess[str]]]:
    """Every case run once, concurrently, in the bare environment."""
    root = tmp_path_factory.mktemp("bare")
    home, work = root / "home", root / "work"
    home.mkdir()
    work.mkdir()
    closed = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CLAIMFLOW_STATE_DIR": str(home / "state"),
        "CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{closed}",
        "CLAIMFLOW_DATABASE__URL": (
            f"postgresql+asyncpg://claimflow:{DB_PASSWORD}@127.0.0.1:{closed}/claimflow"
        ),
        "CLAIMFLOW_HANDLERS__HEALTH_PORT": "0",  # the health server is not what fails here
    }
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        home.chmod(0o555)
        work.chmod(0o555)
        try:
            argvs = {
                command: [
                    *command.split(),
                    *(
                        a.replace(TAKEN, port).replace(CLOSED, str(closed))
                        for a in CASES[command].args
                    ),
                ]
                for command in COMMANDS
                if command in CASES
            }
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
                futures = {c: pool.submit(_run, argv, work, env) for c, argv in argvs.items()}
                yield {command: future.result() for command, future in futures.items()}
        finally:
            home.chmod(0o755)
            work.chmod(0o755)


def test_every_subcommand_has_a_case() -> None:
    assert sorted(set(COMMANDS) - set(CASES)) == [], "add a case for each new command"
    assert sorted(set(CASES) - set(COMMANDS)) == [], "a case for a command that is gone"


@pytest.mark.parametrize("command", COMMANDS)
def test_command_in_a_bare_environment_answers_in_one_line_with_its_exit_code(
    command: str, results: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    case = CASES[command]
    result = results[command]
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert DB_PASSWORD not in output
    lines = result.stderr.splitlines()
    assert len(lines) <= 1, result.stderr
    assert all(len(line) <= 200 for line in lines), result.stderr
    assert result.returncode == case.code, result.stderr
    if case.code != ExitCode.OK and case.says:
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("claimflow: ")
        assert case.says in lines[0]


def test_the_working_directory_of_the_bare_environment_is_read_only(tmp_path: Path) -> None:
    tmp_path.chmod(0o555)
    try:
        result = _run(["schemas", "export"], tmp_path, {"PATH": os.environ.get("PATH", "")})
    finally:
        tmp_path.chmod(0o755)
    assert result.returncode == ExitCode.USAGE
    assert not (tmp_path / "docs").exists()


def test_the_embedded_ledger_in_a_read_only_directory_says_so_in_one_line(tmp_path: Path) -> None:
    tmp_path.chmod(0o555)
    try:
        result = _run(["claim", "show", "A-1"], tmp_path, {"PATH": os.environ.get("PATH", "")})
    finally:
        tmp_path.chmod(0o755)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert result.stderr.startswith(
        "claimflow: cannot open the SQLite ledger sqlite+aiosqlite:///./claimflow-ledger.db"
    ), result.stderr
    assert result.stderr.count("\n") == 1
