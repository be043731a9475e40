"""The one typed settings object of claimflow.

Every setting comes from the environment with the prefix ``CLAIMFLOW_``; nested groups use a
double underscore (``CLAIMFLOW_KAFKA__BOOTSTRAP_SERVERS``). Secrets are ``SecretStr`` and are
unwrapped only at the call that needs them. On Kubernetes, secrets may also be mounted as files
in the directory named by ``CLAIMFLOW_SECRETS_DIR`` (one file per setting, named like the
environment variable without the prefix, lower case: ``receiver__verification_token``).

Settings are never read at import time: each process builds one ``Settings`` in its
composition root with :func:`load_settings`.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, IPvAnyNetwork, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from claimflow.errors import BadSetting

__all__ = [
    "AvailitySettings",
    "ConfigurationError",
    "DatabaseSettings",
    "FollowUpSettings",
    "HandlerSettings",
    "IntegrexSettings",
    "KafkaSettings",
    "LoggingSettings",
    "MissingSecretError",
    "ReceiverSettings",
    "RouterSettings",
    "Settings",
    "TracingSettings",
    "WebSettings",
    "load_settings",
]

Lane = Literal["production", "test"]


class ConfigurationError(BadSetting, ValueError):
    """Configuration that stops start-up; its message is one line naming what is wrong.

    A ``claimflow.errors.BadSetting``: the command exits with code 2.
    """


class MissingSecretError(ConfigurationError):
    """A secret that this role needs is not configured."""

    def __init__(self, env_name: str) -> None:
        super().__init__(
            f"missing required secret {env_name}: set it, or mount it as a file in "
            "CLAIMFLOW_SECRETS_DIR"
        )
        self.env_name = env_name


class KafkaSettings(BaseModel):
    bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Comma-separated host:port list of Kafka brokers."
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How clients talk to the brokers."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism when security_protocol is SASL_*."
    )
    sasl_username: str | None = Field(None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(None, description="SASL password.")
    ssl_cafile: Path | None = Field(None, description="CA bundle that signed the brokers' certs.")
    client_id: str = Field("claimflow", description="Kafka client.id prefix, seen in broker logs.")
    topic_prefix: str = Field(
        "claimflow.", description="Prefix of every topic claimflow reads or writes."
    )
    publish_timeout_seconds: float = Field(
        5.0,
        gt=0,
        description="Longest a webhook waits for the broker's acknowledgement before a 503.",
    )


class ReceiverSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Interface the receiver listens on.")
    port: int = Field(8080, ge=1, le=65535, description="Port the receiver listens on.")
    verification_token: SecretStr | None = Field(
        None, description="Redox destination verification token (required to serve)."
    )
    max_body_bytes: int = Field(
        5 * 1024 * 1024, gt=0, description="Largest webhook body accepted; larger gets 413."
    )
    retry_after_seconds: int = Field(
        30, ge=1, description="Retry-After sent with a 503 when Kafka is down or slow."
    )


class RouterSettings(BaseModel):
    group_id: str = Field("claimflow-router", description="Consumer group of the router stage.")
    transactional_id_prefix: str = Field(
        "claimflow-router",
        description="Prefix of the router's Kafka transactional ids (one per assigned partition).",
    )
    route_table: Path | None = Field(
        None, description="YAML route table replacing the built-in one (docs/topics.md)."
    )


class DatabaseSettings(BaseModel):
    url: SecretStr = Field(
        SecretStr("sqlite+aiosqlite:///./claimflow-ledger.db"),
        description="SQLAlchemy async URL of the claims ledger (SQLite or PostgreSQL).",
    )
    pool_size: int = Field(5, ge=1, description="Connections kept open to PostgreSQL.")


class HandlerSettings(BaseModel):
    lane: Lane = Field(
        "production",
        description="Which topics handlers read and write: production or Meta.Test traffic.",
    )
    health_host: str = Field("127.0.0.1", description="Interface of the handler health server.")
    health_port: int = Field(8081, ge=0, le=65535, description="Port of the health server.")
    max_attempts: int = Field(5, ge=1, description="In-process attempts before a retry topic.")
    retry_topic_attempts: int = Field(
        3, ge=0, description="Passes through the retry topic before the dead-letter topic."
    )
    backoff_base_seconds: float = Field(0.5, gt=0, description="First retry delay.")
    backoff_max_seconds: float = Field(30.0, gt=0, description="Longest retry delay.")
    rules_file: Path | None = Field(
        None, description="YAML follow-up rules replacing the defaults (docs/follow-up-rules.md)."
    )
    document_store: Path = Field(
        Path("./documents"), description="Root of the claim document store (docs/documents.md)."
    )
    max_document_bytes: int = Field(
        10 * 1024 * 1024, gt=0, description="Largest single document sent as an attachment."
    )


class IntegrexSettings(BaseModel):
    base_url: str = Field("https://api.integrexrcm.com:53443", description="Integrex API base URL.")
    client_id: str | None = Field(None, description="OAuth2 client id.")
    client_secret: SecretStr | None = Field(None, description="OAuth2 client secret.")
    env: Literal["T", "P"] = Field("T", description="Integrex 'env' header: T test, P production.")
    requests_per_second: float = Field(5.0, gt=0, description="Client-side request rate cap.")
    poll_deadline_seconds: float = Field(
        600.0,
        gt=0,
        description="How long one command may take from its arrival, retries and polls "
        "included; then it ends timed_out.",
    )
    timeout_seconds: float = Field(30.0, gt=0, description="Per-request timeout.")
    connect_timeout_seconds: float = Field(
        5.0, gt=0, description="Longest wait to open a connection (a down partner fails fast)."
    )
    token_refresh_skew_seconds: float = Field(
        60.0, ge=0, description="Fetch a new access token this long before the old one expires."
    )
    retry_max_attempts: int = Field(
        5, ge=1, description="Attempts per call on 429, 5xx and timeouts (first one included)."
    )
    retry_budget_seconds: float = Field(
        60.0, gt=0, description="Longest a call keeps retrying before it gives up to the caller."
    )
    backoff_base_seconds: float = Field(0.5, gt=0, description="Ceiling of the first retry delay.")
    backoff_max_seconds: float = Field(15.0, gt=0, description="Longest single retry delay.")
    circuit_failure_threshold: int = Field(
        5, ge=1, description="Consecutive partner-down failures that open the circuit."
    )
    circuit_reset_seconds: float = Field(
        30.0, gt=0, description="How long an open circuit refuses calls before one trial call."
    )
    poll_interval_seconds: float = Field(
        2.0, gt=0, description="First wait between claim-info polls; doubles up to the maximum."
    )
    poll_max_interval_seconds: float = Field(
        30.0, gt=0, description="Longest wait between two claim-info polls."
    )
    daily_request_limit: int | None = Field(
        None, ge=1, description="Requests Integrex allows per UTC day (None: no daily cap)."
    )
    max_failed_calls: int = Field(
        8,
        ge=1,
        description="Failed calls (429, 5xx, timeouts) one command may spend before it ends; "
        "with poll_deadline_seconds, the command's whole retry budget.",
    )


class AvailitySettings(BaseModel):
    base_url: str = Field("https://api.availity.com/availity", description="Availity API base URL.")
    token_url: str = Field(
        "https://api.availity.com/v1/token", description="Availity OAuth2 token endpoint."
    )
    client_id: str | None = Field(None, description="OAuth2 client id.")
    client_secret: SecretStr | None = Field(None, description="OAuth2 client secret.")
    scope: str = Field("hipaa", description="OAuth2 scope of the plan.")
    requests_per_second: float = Field(5.0, gt=0, description="Plan request rate (Demo: 5/s).")
    submitter_id: str | None = Field(None, description="Our Availity submitter id.")
    submitter_state: str | None = Field(None, description="Our submitter's state (2 letters).")
    poll_deadline_seconds: float = Field(
        900.0,
        gt=0,
        description="How long one command may take from its arrival, retries and polls "
        "included; then it is reported pending (or failed, if never sent).",
    )
    timeout_seconds: float = Field(30.0, gt=0, description="Per-request timeout.")
    connect_timeout_seconds: float = Field(
        5.0, gt=0, description="Longest wait to open a connection (a down partner fails fast)."
    )
    token_refresh_skew_seconds: float = Field(
        30.0, ge=0, description="Fetch a new token this long before the old one (5 min) expires."
    )
    retry_max_attempts: int = Field(
        5, ge=1, description="Attempts per call on 429, 503 and connection failures."
    )
    retry_budget_seconds: float = Field(
        60.0, gt=0, description="Longest a call keeps retrying before it gives up to the caller."
    )
    backoff_base_seconds: float = Field(1.0, gt=0, description="Ceiling of the first retry delay.")
    backoff_max_seconds: float = Field(30.0, gt=0, description="Longest single retry delay.")
    circuit_failure_threshold: int = Field(
        5, ge=1, description="Consecutive partner-down failures that open the circuit."
    )
    circuit_reset_seconds: float = Field(
        60.0, gt=0, description="How long an open circuit refuses calls before one trial call."
    )
    poll_interval_seconds: float = Field(
        5.0, gt=0, description="First wait between status polls; doubles up to the maximum."
    )
    poll_max_interval_seconds: float = Field(
        60.0, gt=0, description="Longest wait between two status polls."
    )
    accepted_statuses: tuple[str, ...] = Field(
        ("ACCEPTED", "COMPLETED", "DELIVERED"),
        description="Final attachment statuses that mean the payer has it. Availity publishes "
        "no list (SUBMITTED, the answer right after the POST, is not final): set these from "
        "your Availity onboarding; any other value is not final until the poll deadline.",
    )
    rejected_statuses: tuple[str, ...] = Field(
        ("REJECTED", "FAILED", "ERROR"),
        description="Final attachment statuses that mean the payer will not take it.",
    )
    daily_request_limit: int | None = Field(
        500, ge=1, description="Requests the plan allows per UTC day (Demo: 500; None: no cap)."
    )
    max_failed_calls: int = Field(
        8,
        ge=1,
        description="Failed calls (429, 5xx, timeouts) one command may spend before it ends; "
        "with poll_deadline_seconds, the command's whole retry budget.",
    )

    @property
    def final_statuses(self) -> frozenset[str]:
        """Every status that ends polling (accepted or rejected), upper case."""
        return frozenset(s.upper() for s in (*self.accepted_statuses, *self.rejected_statuses))


class FollowUpSettings(BaseModel):
    """The due-time poller of the partner handlers (docs/operations.md, "Follow-up timers")."""

    tick_seconds: float = Field(
        1.0, gt=0, description="Longest sleep of the poller between two looks for due requests."
    )
    batch_size: int = Field(50, ge=1, description="Due requests one look claims at most.")
    concurrency: int = Field(10, ge=1, description="Partner calls in flight per process.")
    lease_seconds: float = Field(
        60.0,
        gt=0,
        description="How long a claimed request is this process's; after a crash another "
        "replica takes it over once the lease has run out.",
    )
    stop_grace_seconds: float = Field(
        15.0,
        ge=0,
        description="On SIGTERM, how long partner calls in flight may finish before they are "
        "given up (fits terminationGracePeriodSeconds; see k8s/base/status-check.yaml).",
    )


class WebSettings(BaseModel):
    """The billing worklist (``claimflow web``): where it listens and who may sign in."""

    host: str = Field("127.0.0.1", description="Interface the worklist listens on.")
    port: int = Field(8090, ge=1, le=65535, description="Port the worklist listens on.")
    public_url: str = Field(
        "http://127.0.0.1:8090",
        description="Address people reach the worklist at; the sign-in callback is under it.",
    )
    issuer: str | None = Field(
        None, description="OpenID Connect issuer URL of the organisation's identity provider."
    )
    client_id: str | None = Field(None, description="OpenID Connect client id of the worklist.")
    client_secret: SecretStr | None = Field(
        None, description="OpenID Connect client secret (confidential client; PKCE as well)."
    )
    scopes: str = Field("openid email profile", description="Scopes asked for at sign-in.")
    roles_claim: str = Field(
        "roles", description="ID-token claim listing the person's roles (viewer, poster)."
    )
    groups_claim: str = Field("groups", description="ID-token claim listing the person's groups.")
    allowed_groups: tuple[str, ...] = Field(
        (), description="Groups allowed to sign in (JSON list); empty allows any group."
    )
    session_secret: SecretStr | None = Field(
        None, description="Key that signs session cookies (required to serve; 32+ characters)."
    )
    session_idle_minutes: int = Field(
        30, ge=1, description="A session unused this long ends; the person signs in again."
    )
    session_absolute_hours: int = Field(
        10, ge=1, description="A session ends this long after sign-in, however busy."
    )
    secure_cookies: bool = Field(
        True, description="Send the session cookie over HTTPS only (off for plain-HTTP dev)."
    )
    page_size: int = Field(50, ge=1, le=500, description="Rows per page of a queue list.")
    http_timeout_seconds: float = Field(
        10.0, gt=0, description="Timeout of calls to the identity provider."
    )
    trusted_proxies: tuple[IPvAnyNetwork, ...] = Field(
        (),
        description="Proxies (addresses or networks, JSON list) whose X-Forwarded-For is "
        "believed for the access log's 'from where'; empty believes none.",
    )


class LoggingSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    format: Literal["auto", "json", "console"] = Field(
        "auto", description="json in production; console on a terminal when auto."
    )


class TracingSettings(BaseModel):
    """OpenTelemetry traces (docs/operations.md, "Traces"). The exporter is configured by the
    standard ``OTEL_*`` variables (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_SERVICE_NAME``,
    ``OTEL_TRACES_SAMPLER``, ...); ``OTEL_SDK_DISABLED=true`` wins over ``enabled``."""

    enabled: bool = Field(
        False,
        description="Export traces over OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT).",
    )
    sample_ratio: float = Field(
        0.01,
        ge=0.0,
        le=1.0,
        description=(
            "The share of Redox deliveries traced, decided where the trace starts and followed "
            "by every role (parent-based). At 0.01 tracing adds about 10% to the receiver's CPU "
            "per request (docs/performance.md); 1 traces every delivery. OTEL_TRACES_SAMPLER, "
            "when set, wins."
        ),
    )


class Settings(BaseSettings):
    """Everything claimflow can be told, for every role."""

    model_config = SettingsConfigDict(
        env_prefix="CLAIMFLOW_",
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    receiver: ReceiverSettings = Field(default_factory=ReceiverSettings)
    router: RouterSettings = Field(default_factory=RouterSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    handlers: HandlerSettings = Field(default_factory=HandlerSettings)
    integrex: IntegrexSettings = Field(default_factory=IntegrexSettings)
    availity: AvailitySettings = Field(default_factory=AvailitySettings)
    followups: FollowUpSettings = Field(default_factory=FollowUpSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    money_tolerance: Decimal = Field(
        Decimal("0.00"), ge=0, description="Reconciliation differences up to this are not flagged."
    )

    def require_secret(self, group: str, name: str) -> SecretStr:
        """Return the secret ``group.name`` or stop start-up with a one-line error naming it."""
        value = getattr(getattr(self, group), name)
        if value is None or (isinstance(value, SecretStr) and not value.get_secret_value()):
            raise MissingSecretError(f"CLAIMFLOW_{group.upper()}__{name.upper()}")
        assert isinstance(value, SecretStr)
        return value


def _secrets_from_dir(directory: Path) -> dict[str, dict[str, str]]:
    """Settings from files named like their variable: ``receiver__verification_token``.

    The ``CLAIMFLOW_`` prefix and case are optional (Kubernetes Secret keys are often lower
    case). A variable set in the environment wins over its file.
    """
    nested: dict[str, dict[str, str]] = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        name = path.name.lower().removeprefix("claimflow_")
        group, delimiter, field = name.partition("__")
        if not delimiter or f"CLAIMFLOW_{group}__{field}".upper() in os.environ:
            continue
        nested.setdefault(group, {})[field] = path.read_text().strip()
    return nested


def load_settings() -> Settings:
    """Build the settings from the environment and ``CLAIMFLOW_SECRETS_DIR``, if set."""
    secrets_dir = os.environ.get("CLAIMFLOW_SECRETS_DIR")
    if secrets_dir:
        return Settings(**_secrets_from_dir(Path(secrets_dir)))  # type: ignore[arg-type]
    return Settings()
