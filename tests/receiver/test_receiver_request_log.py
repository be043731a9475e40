"""The canonical log line: the fields it always had, as JSON, and nothing that could be PHI."""

from __future__ import annotations

import io
import json

from claimflow.settings import LoggingSettings
from receiver.request_log import RequestLog, RequestRecord


def _record(**fields: object) -> RequestRecord:
    record = RequestRecord(
        request_id="5f0c1c9a2e8b4d7f9a6b3c2d1e0f4a5b",
        method="POST",
        outcome="accepted",
        status=200,
        log_id="d9f5d293-7110-461e-a875-3beb089e79f3",
        attempt_id="925d1617-2fe0-468c-a14c-f8c04b572c54",
        body_bytes=4895,
        publish_ms=1.31,
        duration_ms=2.02,
    )
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def _lines(settings: LoggingSettings, *records: RequestRecord) -> list[dict[str, object]]:
    out = io.StringIO()
    log = RequestLog(settings, stream=out)
    for record in records:
        log.write(record)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_the_line_is_json_with_the_canonical_fields() -> None:
    (line,) = _lines(LoggingSettings(level="INFO", format="json"), _record())

    assert line.pop("timestamp", "").endswith("Z")  # type: ignore[union-attr]
    assert line == {
        "event": "webhook request",
        "level": "info",
        "logger": "claimflow.receiver",
        "request_id": "5f0c1c9a2e8b4d7f9a6b3c2d1e0f4a5b",
        "method": "POST",
        "outcome": "accepted",
        "status": 200,
        "redox_log_id": "d9f5d293-7110-461e-a875-3beb089e79f3",
        "redox_attempt_id": "925d1617-2fe0-468c-a14c-f8c04b572c54",
        "body_bytes": 4895,
        "publish_ms": 1.31,
        "duration_ms": 2.02,
    }


def test_ids_that_are_not_opaque_are_masked_like_every_other_line() -> None:
    (line,) = _lines(
        LoggingSettings(level="INFO", format="json"),
        _record(request_id="101-01-0001", log_id="+18088675301", attempt_id=None, publish_ms=None),
    )

    assert line["request_id"] == "[SSN]"
    assert line["redox_log_id"] == "[PHONE]"
    assert line["redox_attempt_id"] is None
    assert line["publish_ms"] is None


def test_server_errors_are_warnings_and_the_level_filters() -> None:
    lines = _lines(
        LoggingSettings(level="WARNING", format="json"),
        _record(),
        _record(status=503, outcome="broker_unavailable"),
    )

    assert [(line["level"], line["status"]) for line in lines] == [("warning", 503)]
