"""A throw-away local PostgreSQL server for the dev stack and the tests.

Uses the server binaries of Debian's ``postgresql`` package (installed by scripts/bootstrap).
``initdb`` refuses to run as root, so as root the server runs as the ``postgres`` user.
Trust authentication on loopback only: this server holds test data, never PHI.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LocalPostgres", "PostgresToolingError"]


class PostgresToolingError(RuntimeError):
    """The local PostgreSQL server could not be set up or started."""


def _bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PostgresToolingError(
        "PostgreSQL server binaries not found; run scripts/bootstrap (apt-get install postgresql)"
    )


@dataclass
class LocalPostgres:
    state_dir: Path
    port: int = 5432
    database: str = "claimflow"
    fsync: bool = False
    """Off for tests (speed); the ledger benchmark turns it on."""

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{self.database}"

    def _as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return argv

    def _run(self, argv: list[str]) -> None:
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            self._as_owner(argv), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise PostgresToolingError(f"{argv[0]} failed: {result.stderr.strip()}")

    def start(self, timeout: float = 60.0) -> None:
        bin_dir = _bin_dir()
        data = self.state_dir / "data"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.state_dir, "postgres", "postgres")
        if not (data / "PG_VERSION").exists():
            self._run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            )
        fsync = "on" if self.fsync else "off"
        options = (
            f"-p {self.port} -k {self.state_dir} -c listen_addresses=127.0.0.1 -c fsync={fsync}"
        )
        self._run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(self.state_dir / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            ]
        )
        deadline = time.monotonic() + timeout
        while True:
            result = subprocess.run(  # noqa: S603 - fixed argv, no shell
                [
                    str(bin_dir / "psql"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    "-tAc",
                    f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'",  # noqa: S608 - our own constant name
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise PostgresToolingError(f"PostgreSQL did not answer: {result.stderr.strip()}")
            time.sleep(0.2)
        if result.stdout.strip() != "1":
            subprocess.run(  # noqa: S603 - fixed argv, no shell
                [
                    str(bin_dir / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    self.database,
                ],
                check=True,
                capture_output=True,
            )

    def stop(self) -> None:
        data = self.state_dir / "data"
        if (data / "postmaster.pid").exists():
            self._run([str(_bin_dir() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
