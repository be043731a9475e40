"""What the router makes of one webhook record, without Kafka."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from router._routing import DeadLetter, Routed, route_record
from router.routes import RouteTable
from router.topics import HEADERS

ROUTES = RouteTable.default("claimflow.")


@dataclass
class Record:
    value: bytes | None
    topic: str = "claimflow.redox.claim.payment-batch.v1"
    partition: int = 2
    offset: int = 7
    key: bytes | None = b"log"
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def test_sample_splits_into_one_message_per_claim_with_context(sample_bytes: bytes) -> None:
    outcome = route_record(
        Record(sample_bytes, topic="claimflow.test.redox.claim.payment-batch.v1"), ROUTES
    )
    assert isinstance(outcome, Routed)
    assert outcome.log_id == "d9f5d293-7110-461e-a875-3beb089e79f3"
    assert outcome.lane == "test"
    assert [m.topic for m in outcome.messages] == ["claimflow.test.claim-payments.v1"] * 2
    first = json.loads(outcome.messages[0].value)
    assert outcome.messages[0].key == first["claim"]["SubmissionNumber"].encode()
    assert first["transaction"]["Receiver"]["Name"] == "Redox Health System"
    assert "Payments" not in first["transaction"]
    assert dict(outcome.messages[0].headers)[HEADERS.TEST] == b"true"


def test_test_flag_wins_over_a_production_input_topic(sample_payload: dict[str, Any]) -> None:
    # The sample says Meta.Test: true; even on the production webhook topic it stays in test.
    outcome = route_record(Record(json.dumps(sample_payload).encode()), ROUTES)
    assert isinstance(outcome, Routed)
    assert {m.topic for m in outcome.messages} == {"claimflow.test.claim-payments.v1"}


def test_production_body_on_a_test_topic_stays_in_the_test_lane(
    sample_payload: dict[str, Any],
) -> None:
    sample_payload["Meta"]["Test"] = False
    record = Record(
        json.dumps(sample_payload).encode(), topic="claimflow.test.redox.claim.payment-batch.v1"
    )
    outcome = route_record(record, ROUTES)
    assert isinstance(outcome, Routed)
    assert {m.topic for m in outcome.messages} == {"claimflow.test.claim-payments.v1"}


def test_a_claim_routed_to_the_test_lane_says_redox_test_true(
    sample_payload: dict[str, Any],
) -> None:
    """Meta.Test false on a test topic: the messages travel in the test lane and say so."""
    sample_payload["Meta"]["Test"] = False
    test_topic = Record(
        json.dumps(sample_payload).encode(), topic="claimflow.test.redox.claim.payment-batch.v1"
    )
    production = Record(json.dumps(sample_payload).encode())
    routed = route_record(test_topic, ROUTES)
    stays = route_record(production, ROUTES)
    assert isinstance(routed, Routed)
    assert isinstance(stays, Routed)
    assert [dict(m.headers)[HEADERS.TEST] for m in routed.messages] == [b"true", b"true"]
    assert [dict(m.headers)[HEADERS.TEST] for m in stays.messages] == [b"false", b"false"]


def test_unknown_event_type_is_a_dead_letter_with_its_origin(
    sample_payload: dict[str, Any],
) -> None:
    sample_payload["Meta"].update(EventType="Mystery", Test=False)
    outcome = route_record(Record(json.dumps(sample_payload).encode()), ROUTES)
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason == "no route for Claim.Mystery"
    headers = dict(outcome.message.headers)
    assert outcome.message.topic == "claimflow.router.dead-letter.v1"
    assert headers[HEADERS.ORIGINAL_OFFSET] == b"7"
    assert headers[HEADERS.ORIGINAL_PARTITION] == b"2"


def test_invalid_body_reason_names_paths_never_values(sample_payload: dict[str, Any]) -> None:
    claim = sample_payload["Transactions"][0]["Payments"][0]["Claims"][0]
    claim["PaymentAmount"] = 12.5  # a float may have lost cents
    sample_payload["Transactions"][0]["Payments"][0]["Patient"]["Demographics"]["DOB"] = "Jane"
    outcome = route_record(Record(json.dumps(sample_payload).encode()), ROUTES)
    assert isinstance(outcome, DeadLetter)
    assert "Transactions[0].Payments[0].Claims[0].PaymentAmount" in outcome.reason
    assert "Demographics.DOB" in outcome.reason
    assert "Jane" not in outcome.reason
    assert "12.5" not in outcome.reason
    assert outcome.message.topic == "claimflow.test.router.dead-letter.v1"  # Meta.Test: true


def test_not_json_and_empty_values_are_dead_letters() -> None:
    not_json = route_record(Record(b"{nope"), ROUTES)
    assert isinstance(not_json, DeadLetter)
    assert not_json.reason.startswith("envelope invalid: $: json_invalid")
    empty = route_record(Record(None), ROUTES)
    assert isinstance(empty, DeadLetter)
    assert empty.reason == "empty record value"


def test_delivery_without_log_id_is_a_dead_letter(sample_payload: dict[str, Any]) -> None:
    sample_payload["Meta"]["Logs"] = []
    outcome = route_record(Record(json.dumps(sample_payload).encode()), ROUTES)
    assert isinstance(outcome, DeadLetter)
    assert outcome.reason == "Meta.Logs: no log ID"
