"""The receiver's canonical log line: one per request, cheap, and PHI-free by construction.

Every other claimflow line goes through structlog's chain with the PHI-redaction processor
(``claimflow.logging``), which walks the whole event dict: fine for rare lines, ~30 µs for the
one every webhook writes. This line holds a fixed set of fields, each of a kind that cannot
carry PHI (our outcome, status, sizes and timings) or checked to be an opaque id
(``_safe_id``: a UUID or hex id as Redox and we mint them, else masked with
:func:`claimflow.redaction.mask_text`), so it is rendered straight to JSON with the same keys,
level, logger name and UTC timestamp as the chain's lines. The line never holds the body or a
field of it.

With a console format (a developer's terminal) the line goes through the ordinary chain.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from dataclasses import dataclass
from typing import TextIO

import structlog

from claimflow.redaction import mask_text
from claimflow.settings import LoggingSettings

__all__ = ["RequestLog", "RequestRecord"]

LOGGER_NAME = "claimflow.receiver"
EVENT = "webhook request"
# Ids as Redox (UUIDs) and uuid4().hex (ours) mint them: no room for a name, date or number
# with separators that could be an SSN or a phone number.
_METHODS = {method: f'"{method}"' for method in ("GET", "HEAD", "POST")}
_OPAQUE_ID = re.compile(
    r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


@dataclass(slots=True)
class RequestRecord:
    """What the canonical log line says about one request."""

    request_id: str
    method: str
    outcome: str = "error"
    status: int = 500
    log_id: str | None = None
    attempt_id: str | None = None
    body_bytes: int = 0
    publish_ms: float | None = None
    duration_ms: float = 0.0


def _safe_id(value: str | None) -> str | None:
    if value is None or _OPAQUE_ID.fullmatch(value):
        return value
    return mask_text(value)


def _json_id(value: str | None) -> str:
    """An id as a JSON string: opaque ids as they are (nothing to escape), else masked."""
    if value is None:
        return "null"
    if _OPAQUE_ID.fullmatch(value):
        return f'"{value}"'
    return json.dumps(mask_text(value))


class _Clock:
    """ISO 8601 UTC timestamps as structlog's ``TimeStamper(fmt="iso", utc=True)`` writes them,
    the seconds formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((now - second) * 1_000_000):06d}Z"


class RequestLog:
    """Writes :class:`RequestRecord` lines: JSON straight to ``stream``, else via structlog."""

    def __init__(self, settings: LoggingSettings, *, stream: TextIO | None = None) -> None:
        out = stream if stream is not None else sys.stderr
        level = logging.getLevelNamesMapping()[settings.level]
        console = settings.format == "console" or (settings.format == "auto" and out.isatty())
        self._stream: TextIO | None = None if console else out
        self._info = level <= logging.INFO
        self._warning = level <= logging.WARNING
        self._chain = structlog.get_logger(LOGGER_NAME)
        self._clock = _Clock()

    def write(self, record: RequestRecord) -> None:
        """Warning for a 5xx answer (we failed), info otherwise."""
        warning = record.status >= 500
        if not (self._warning if warning else self._info):
            return
        if self._stream is None:
            (self._chain.warning if warning else self._chain.info)(
                EVENT,
                request_id=_safe_id(record.request_id),
                method=record.method,
                outcome=record.outcome,
                status=record.status,
                redox_log_id=_safe_id(record.log_id),
                redox_attempt_id=_safe_id(record.attempt_id),
                body_bytes=record.body_bytes,
                publish_ms=record.publish_ms,
                duration_ms=record.duration_ms,
            )
            return
        # The same JSON as json.dumps would write (", " and ": " separators); every value is a
        # number, null, one of our constants, or an id that _json_id made safe to quote.
        publish_ms = "null" if record.publish_ms is None else repr(record.publish_ms)
        self._stream.write(
            f'{{"event": "{EVENT}", "level": "{"warning" if warning else "info"}", '
            f'"logger": "{LOGGER_NAME}", "timestamp": "{self._clock.now()}", '
            f'"request_id": {_json_id(record.request_id)}, '
            f'"method": {_METHODS.get(record.method) or json.dumps(record.method)}, '
            f'"outcome": "{record.outcome}", "status": {record.status}, '
            f'"redox_log_id": {_json_id(record.log_id)}, '
            f'"redox_attempt_id": {_json_id(record.attempt_id)}, '
            f'"body_bytes": {record.body_bytes}, "publish_ms": {publish_ms}, '
            f'"duration_ms": {record.duration_ms!r}}}\n'
        )
