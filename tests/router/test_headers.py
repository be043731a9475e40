"""One builder for every producer's headers: what each kind of message carries."""

from __future__ import annotations

import pytest

from handlers.runtime.retry import Origin, copy_headers
from router.headers import Failure, RedoxOrigin, message_headers
from router.messages import webhook_headers
from router.redox import Meta
from router.topics import HEADERS


@pytest.mark.parametrize(("test", "value"), [(True, b"true"), (False, b"false")])
def test_redox_test_is_always_written(test: bool, value: bytes) -> None:
    headers = dict(message_headers(test=test, message_id="m-1", schema="claimflow.x.v1"))
    assert headers == {
        HEADERS.MESSAGE_ID: b"m-1",
        HEADERS.SCHEMA: b"claimflow.x.v1",
        HEADERS.CONTENT_TYPE: b"application/json",
        HEADERS.TEST: value,
    }


def test_a_message_from_a_redox_delivery_names_it() -> None:
    origin = RedoxOrigin("Claim", "PaymentBatch", "log-1", "attempt-2")
    headers = dict(message_headers(test=False, message_id="m-1", schema="s", redox=origin))
    assert headers[HEADERS.DATA_MODEL] == b"Claim"
    assert headers[HEADERS.EVENT_TYPE] == b"PaymentBatch"
    assert headers[HEADERS.REDOX_LOG_ID] == b"log-1"
    assert headers[HEADERS.REDOX_ATTEMPT_ID] == b"attempt-2"


def test_the_webhook_message_is_built_by_the_same_function() -> None:
    meta = Meta.model_validate(
        {"DataModel": "Claim", "EventType": "PaymentBatch", "Test": None, "Logs": []}
    )
    headers = dict(webhook_headers(meta, log_id="log-1", message_id="m-1"))
    assert headers[HEADERS.TEST] == b"false"
    assert headers[HEADERS.SCHEMA] == b"redox.Claim.PaymentBatch"


def test_a_copy_keeps_the_original_and_replaces_an_earlier_failure() -> None:
    original = [
        (HEADERS.MESSAGE_ID, b"m-1"),
        (HEADERS.TEST, b"true"),
        (HEADERS.ERROR, b"first failure"),
        ("traceparent", b"00-abc-def-01"),
    ]
    failure = Failure(
        error="second failure", original_topic="t", original_partition=3, original_offset=9
    )
    copied = message_headers(test=True, carried=original, failure=failure)
    assert [value for name, value in copied if name == HEADERS.ERROR] == [b"second failure"]
    assert dict(copied)["traceparent"] == b"00-abc-def-01"
    assert dict(copied)[HEADERS.ORIGINAL_OFFSET] == b"9"


def test_a_retry_copy_of_a_message_without_redox_test_says_false() -> None:
    copied = copy_headers(
        {HEADERS.MESSAGE_ID: b"m-1"},
        handler="ledger",
        origin=Origin("claimflow.claim-payments.v1", 0, 5),
        attempts=3,
        error="TransientError",
    )
    assert copied[HEADERS.TEST] == b"false"
    assert copied[HEADERS.HANDLER] == b"ledger"
    assert copied[HEADERS.ATTEMPTS] == b"3"


def test_a_replayed_dead_letter_loses_the_failure_and_names_where_it_came_from() -> None:
    dead = [(HEADERS.TEST, b"true"), (HEADERS.ERROR, b"boom"), (HEADERS.ATTEMPTS, b"9")]
    replayed = dict(message_headers(test=True, carried=dead, replayed_from="dlq:0:4"))
    assert HEADERS.ERROR not in replayed
    assert HEADERS.ATTEMPTS not in replayed
    assert replayed[HEADERS.REPLAYED_FROM] == b"dlq:0:4"
    assert replayed[HEADERS.TEST] == b"true"
