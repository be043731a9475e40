"""The redaction processor and the logging set-up every claimflow process uses."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from claimflow.logging import configure_logging
from claimflow.redaction import REDACTED, REDACTED_DOCUMENT, redact_phi
from claimflow.settings import LoggingSettings


def test_values_of_phi_keys_are_redacted_at_any_depth_and_any_spelling() -> None:
    with capture_logs(processors=[redact_phi]) as logs:
        structlog.get_logger().info(
            "claim",
            FirstName="Timothy",
            last_name="Bixby",
            patientFirstName="Timothy",
            memberNumber="M123",
            subscriberId="S456",
            dateOfBirth="2008-01-06",
            claim={"Patient": {"Demographics": {"DOB": "2008-01-06"}}, "Status": "Paid"},
            partners=[{"SSN": "101-01-0001", "Address": {"ZIP": "53566"}, "name": "Integrex"}],
            submission_number="66729659983",
        )

    (event,) = logs
    for key in ("FirstName", "last_name", "patientFirstName", "memberNumber", "subscriberId"):
        assert event[key] == REDACTED
    assert event["dateOfBirth"] == REDACTED
    assert event["claim"] == {"Patient": REDACTED, "Status": "Paid"}
    assert event["partners"] == [{"SSN": REDACTED, "Address": REDACTED, "name": "Integrex"}]
    assert event["submission_number"] == "66729659983"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("patient SSN is 101-01-0001.", "patient SSN is [SSN]."),
        ("call +18088675301 now", "call [PHONE] now"),
        ("call (608) 555-1234 now", "call [PHONE] now"),
        ("paid 580.00 on 2016-11-11T02:11:03Z", "paid 580.00 on 2016-11-11T02:11:03Z"),
        ("claim 94151100100 matched", "claim 94151100100 matched"),
    ],
)
def test_ssn_and_phone_patterns_are_masked_in_free_text(text: str, expected: str) -> None:
    with capture_logs(processors=[redact_phi]) as logs:
        structlog.get_logger().info(text, detail=text)

    assert logs[0]["event"] == expected
    assert logs[0]["detail"] == expected


def test_text_quoting_a_document_with_phi_fields_is_replaced_whole() -> None:
    quoted = """Sending (key=b'k' value=b'{"Patient": {"Demographics": {"FirstName": "Tim"}}}')"""
    with capture_logs(processors=[redact_phi]) as logs:
        structlog.get_logger().debug(quoted)

    assert logs[0]["event"] == REDACTED_DOCUMENT


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()
    logging.captureWarnings(False)


@pytest.mark.usefixtures("restore_logging")
def test_stdlib_and_structlog_lines_are_json_redacted_and_carry_request_context() -> None:
    out = io.StringIO()
    configure_logging(LoggingSettings(level="INFO", format="json"), stream=out)

    with structlog.contextvars.bound_contextvars(request_id="r-1", redox_log_id="log-1"):
        structlog.get_logger("claimflow.test").info("webhook request", FirstName="Timothy")
        logging.getLogger("uvicorn.error").warning("client %s sent SSN 101-01-0001", "x")
        logging.getLogger("aiokafka").debug("below the level: dropped")

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["webhook request", "client x sent SSN [SSN]"]
    assert all(line["request_id"] == "r-1" for line in lines)
    assert all(line["redox_log_id"] == "log-1" for line in lines)
    assert lines[0]["FirstName"] == REDACTED
    assert lines[1]["logger"] == "uvicorn.error"
    assert lines[1]["level"] == "warning"
    assert "Timothy" not in out.getvalue()


@pytest.mark.usefixtures("restore_logging")
def test_console_format_renders_for_people_and_still_redacts() -> None:
    out = io.StringIO()
    configure_logging(LoggingSettings(level="DEBUG", format="console"), stream=out)

    structlog.get_logger("claimflow.test").debug("hello", dob="2008-01-06")

    assert "hello" in out.getvalue()
    assert "2008-01-06" not in out.getvalue()
    with pytest.raises(json.JSONDecodeError):
        json.loads(out.getvalue())
