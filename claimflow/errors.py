"""What a ``claimflow`` command tells a person when it fails: one line and an exit code.

::

    CommandError                  1  failed
    ├── UsageError                2  bad usage or configuration
    │   ├── BadSetting               a setting is invalid (settings.ConfigurationError too)
    │   ├── FileProblem              a file is missing, unreadable or unwritable
    │   ├── PortInUse                a port to listen on is taken
    │   ├── BrokerRefusedAuth        Kafka refused our credentials
    │   └── SchemaTooNew             the database is newer than this claimflow
    ├── DependencyUnavailable     3  a dependency is down (Kubernetes restarts the pod)
    │   ├── BrokerUnavailable        Kafka cannot be reached
    │   ├── DatabaseUnavailable      the database cannot be reached
    │   ├── SchemaNotMigrated        the database has no (or an older) schema
    │   └── PartnerUnavailable       nothing answers at a partner's (or sandbox's) URL
    └── DataRefused               4  the data was refused (bad rows, a 4xx answer)

Each message is one line naming what failed, where (a broker address, a database URL
without its password, a file path) and the next step; never a value from a message or a
row, so never PHI. The exit code is on the type: ``claimflow.cli.main`` is the one place
that prints the message and returns the code. :func:`from_exception` translates the
third-party errors every command can meet (aiokafka, pydantic, SQLAlchemy, file and socket
errors).
"""

# Names say what happened, as httpx's do (ConnectTimeout), not "...Error" each:
# ruff: noqa: N818

from __future__ import annotations

import errno
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from claimflow.settings import Settings

__all__ = [
    "BadSetting",
    "BrokerRefusedAuth",
    "BrokerUnavailable",
    "CommandError",
    "DataRefused",
    "DatabaseUnavailable",
    "DependencyUnavailable",
    "ExitCode",
    "FileProblem",
    "PartnerUnavailable",
    "PortInUse",
    "SchemaNotMigrated",
    "SchemaTooNew",
    "UsageError",
    "database_location",
    "from_exception",
]


class ExitCode(IntEnum):
    """The exit codes of every command (docs/operations.md, "Exit codes")."""

    OK = 0
    FAILED = 1
    USAGE = 2
    UNAVAILABLE = 3
    REFUSED = 4
    INTERRUPTED = 130


class CommandError(Exception):
    """Root: a failure a person can cause or meet; ``str()`` is the one line to show."""

    exit_code: ExitCode = ExitCode.FAILED


class UsageError(CommandError):
    """The command line or the configuration is wrong; running again unchanged cannot help."""

    exit_code = ExitCode.USAGE


class BadSetting(UsageError):
    """A setting (environment variable or secret file) is invalid."""


class FileProblem(UsageError):
    """A file is missing, unreadable, unwritable or malformed."""


class PortInUse(UsageError):
    """Another process already listens on the port this command needs."""

    def __init__(self, host: str, port: int, *, what: str, setting: str) -> None:
        super().__init__(
            f"cannot listen on {host}:{port} for {what}: the port is already in use; "
            f"stop what uses it or choose another port ({setting})"
        )


class BrokerRefusedAuth(UsageError):
    """Kafka answered but refused our credentials."""


class SchemaTooNew(UsageError):
    """The database was migrated by a newer claimflow than this one."""


class DependencyUnavailable(CommandError):
    """Something this command depends on is down or not ready; retrying later can help."""

    exit_code = ExitCode.UNAVAILABLE


class BrokerUnavailable(DependencyUnavailable):
    """No Kafka broker answers at the configured address."""


class DatabaseUnavailable(DependencyUnavailable):
    """The database cannot be reached or opened."""


class SchemaNotMigrated(DependencyUnavailable):
    """The database has no schema yet, or an older one: ``claimflow db upgrade`` is due."""


class PartnerUnavailable(DependencyUnavailable):
    """Nothing answers at a partner's URL (or the local sandbox playing it)."""


class DataRefused(CommandError):
    """The data itself was refused (invalid rows, a 4xx answer); fix the data, not the setup."""

    exit_code = ExitCode.REFUSED


def database_location(url: str) -> str:
    """The database URL as it may be shown: without its password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(an unparsable CLAIMFLOW_DATABASE__URL)"


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes, outermost first (``raise ... from`` and implicit context)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _from_kafka(exc: BaseException, settings: Settings | None) -> CommandError | None:
    from aiokafka import errors as kafka_errors

    if not isinstance(exc, kafka_errors.KafkaError):
        return None
    where = settings.kafka.bootstrap_servers if settings else "the configured brokers"
    if len(where) > 60:  # a long broker list: the first one says enough
        where = where.split(",")[0] + ",..."
    refused = (
        kafka_errors.AuthenticationFailedError,
        kafka_errors.SaslAuthenticationFailed,
        kafka_errors.UnsupportedSaslMechanismError,
        kafka_errors.AuthenticationMethodNotSupported,
        kafka_errors.ClusterAuthorizationFailedError,
        kafka_errors.TopicAuthorizationFailedError,
        kafka_errors.GroupAuthorizationFailedError,
        kafka_errors.TransactionalIdAuthorizationFailed,
    )
    if isinstance(exc, refused):
        return BrokerRefusedAuth(
            f"Kafka at {where} refused our credentials ({type(exc).__name__}); check "
            "CLAIMFLOW_KAFKA__SASL_USERNAME, its password and the broker's ACLs"
        )
    return BrokerUnavailable(
        f"cannot reach Kafka at {where} ({type(exc).__name__}); start it "
        "(`claimflow kafka start`) or set CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS"
    )


def _from_settings(exc: BaseException) -> CommandError | None:
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return None
    from claimflow.settings import Settings

    errors = exc.errors(include_input=False, include_url=False)
    first = errors[0]
    # A group validated on its own (``ReceiverSettings`` from ``serve --port``) names its group.
    groups = {
        getattr(field.annotation, "__name__", ""): name
        for name, field in Settings.model_fields.items()
    }
    loc = [groups[exc.title], *first["loc"]] if exc.title in groups else list(first["loc"])
    where = "__".join(str(part) for part in loc).upper()
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return BadSetting(f"invalid setting CLAIMFLOW_{where}: {first['msg']}{more}")


def _from_os(exc: BaseException) -> CommandError | None:
    if not isinstance(exc, OSError) or exc.filename is None:
        return None
    reason = (exc.strerror or type(exc).__name__).lower()
    return FileProblem(f"{exc.filename}: {reason}; check the path and its permissions")


def _from_http(exc: BaseException) -> CommandError | None:
    import httpx

    if not isinstance(exc, httpx.TransportError):
        return None
    try:
        url = str(exc.request.url.copy_with(query=None))
    except RuntimeError:  # an error raised before a request existed
        url = "a partner URL"
    return PartnerUnavailable(
        f"nothing answers at {url} ({type(exc).__name__}); start it (`make run` starts the "
        "sandboxes) or check its CLAIMFLOW_*__BASE_URL"
    )


def _from_database(exc: BaseException, settings: Settings | None) -> CommandError | None:
    """A database that went away (or failed) during a command: where, and what to do."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

    if not isinstance(exc, SQLAlchemyError):
        return None
    where = (
        database_location(settings.database.url.get_secret_value())
        if settings
        else "the configured database"
    )
    gone = isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )
    if isinstance(exc, DBAPIError) and not gone:
        # The database answered but refused a statement: a fault of ours, not of the setup.
        return CommandError(
            f"the ledger database {where} refused a statement ({type(exc).__name__}); nothing "
            "of the failed transaction was kept; run again with CLAIMFLOW_LOGGING__LEVEL=DEBUG "
            "to see the traceback, and report it"
        )
    return DatabaseUnavailable(
        f"the ledger database {where} failed ({type(exc).__name__}); start it or fix "
        "CLAIMFLOW_DATABASE__URL, then run the command again"
    )


def from_exception(exc: BaseException, settings: Settings | None) -> CommandError | None:
    """The ``CommandError`` that explains ``exc`` (or one of its causes), if any does."""
    for link in _chain(exc):
        if isinstance(link, CommandError):
            return link
        for translate in (_from_settings, _from_os, _from_http):
            found = translate(link)
            if found is not None:
                return found
        found = _from_kafka(link, settings) or _from_database(link, settings)
        if found is not None:
            return found
        if isinstance(link, OSError) and link.errno == errno.EADDRINUSE:
            return UsageError("a port this command listens on is already in use")
    return None
