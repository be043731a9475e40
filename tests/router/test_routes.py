"""The route table: built-in routes, the YAML file, and errors that name the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.redox import ClaimSubmission, PaymentBatch
from router.routes import RouteTable, RouteTableError


def test_default_routes_send_each_claim_event_to_its_webhook_topic_per_lane() -> None:
    routes = RouteTable.default("claimflow.")
    assert routes.webhook_topic("Claim", "PaymentBatch", False) == (
        "claimflow.redox.claim.payment-batch.v1"
    )
    assert routes.webhook_topic("Claim", "PaymentBatch", True) == (
        "claimflow.test.redox.claim.payment-batch.v1"
    )
    for event in ("Submit", "Submission", "SubmissionBatch"):
        assert routes.webhook_topic("Claim", event, False) == "claimflow.redox.claim.submit.v1"
        assert routes.body_model("Claim", event) is ClaimSubmission
    assert routes.body_model("Claim", "PaymentBatch") is PaymentBatch
    assert routes.webhook_topic("Claim", "Unknown", False) is None
    assert routes.body_model("Patient", "PaymentBatch") is None


def test_claim_topic_and_lane_of_each_webhook_topic() -> None:
    routes = RouteTable.default("p.")
    assert routes.claim_topic("p.redox.claim.payment-batch.v1") == "p.claim-payments.v1"
    assert routes.claim_topic("p.test.redox.claim.submit.v1") == "p.test.claim-submissions.v1"
    assert routes.claim_topic("p.claim-payments.v1") is None
    assert routes.lane_of("p.test.redox.claim.payment-batch.v1") == "test"
    assert routes.lane_of("p.redox.claim.submit.v1") == "production"
    assert routes.lane_of("other") is None


def test_route_table_file_replaces_the_built_in_routes(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(
        "routes:\n"
        "  - {data_model: Claim, event_type: PaymentBatch, topic: webhook_payment_batch}\n"
        "  - {data_model: Claim, event_type: Submit, topic: webhook_claim_submit}\n"
    )
    routes = RouteTable.load(path, "claimflow.")
    assert routes.known_events() == ["Claim.PaymentBatch", "Claim.Submit"]
    assert routes.webhook_topic("Claim", "SubmissionBatch", False) is None
    assert RouteTable.load(None, "claimflow.") == RouteTable.default("claimflow.")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("routes: []\n", "non-empty 'routes' list"),
        ("routes: [\n", "cannot read"),
        ("routes:\n  - just-a-string\n", "routes[0] is not a mapping"),
        ("routes:\n  - {data_model: Claim, topic: webhook_claim_submit}\n", "routes[0] needs"),
        (
            "routes:\n  - {data_model: Claim, event_type: Submit, topic: claim_payments}\n",
            "routes[0] (Claim.Submit): topic must be one of",
        ),
        (
            "routes:\n  - {data_model: Claim, event_type: Submit, topic: webhook_claim_submit,"
            " lane: test}\n",
            "routes[0] (Claim.Submit): unknown keys ['lane']",
        ),
        (
            "routes:\n"
            "  - {data_model: Claim, event_type: Submit, topic: webhook_claim_submit}\n"
            "  - {data_model: Claim, event_type: Submit, topic: webhook_payment_batch}\n",
            "routes[1] (Claim.Submit): Claim.Submit is routed twice",
        ),
    ],
)
def test_invalid_route_table_file_is_refused_naming_the_entry(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    with pytest.raises(RouteTableError) as caught:
        RouteTable.load(path, "claimflow.")
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_route_table_file_is_a_route_table_error(tmp_path: Path) -> None:
    with pytest.raises(RouteTableError, match="cannot read"):
        RouteTable.load(tmp_path / "absent.yaml", "claimflow.")
