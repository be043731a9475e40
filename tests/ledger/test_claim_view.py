"""``claimflow claim show ID --json``: the documented claim view, and the collapsed text view."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from claimflow.cli import main
from handlers.ledger.claim_view import (
    CLAIM_VIEW_SCHEMA_FILE,
    ClaimSummary,
    ClaimView,
    Money,
    TimelineEvent,
    claim_view,
    claim_view_json_schema,
    render_claim_view,
)
from handlers.ledger.posting import Poster
from handlers.ledger.store import ClaimLedger
from tests.ledger.corpus import PR, Batch, Case, Claims, adj, batch, claim, ledger_claim, service
from tests.ledger.corpus_rules import LAKESIDE, MEDICAID, RULE_CASES, paid_by
from tests.ledger.support import run_steps

SCHEMA_PATH = Path(__file__).parents[2] / "docs" / "schemas" / CLAIM_VIEW_SCHEMA_FILE


def test_the_committed_claim_view_schema_equals_a_fresh_one() -> None:
    fresh = claim_view_json_schema()
    jsonschema.Draft202012Validator.check_schema(fresh)
    assert json.loads(SCHEMA_PATH.read_text()) == fresh, (
        f"{SCHEMA_PATH} is stale: python -m handlers.ledger.claim_view > {SCHEMA_PATH}"
    )


def _history() -> Case:
    """Primary, its reissued check, the primary reversed and corrected, then the secondary."""
    cob = next(c for c in RULE_CASES if c.name.startswith("cob_secondary_pays"))
    primary, secondary = cob.steps[1], cob.steps[2]
    assert isinstance(primary, Batch)
    assert isinstance(secondary, Batch)
    reissue = json.loads(json.dumps(primary.payload))
    reissue["Meta"]["Logs"][0]["ID"] = "log-2041-reissue"
    reissue["Transactions"][0]["ID"] = "tx-2041-reissue"
    reversal = json.loads(json.dumps(primary.payload))
    reversal["Meta"]["Logs"][0]["ID"] = "log-2041-reversal"
    reversal["Transactions"][0]["ID"] = "tx-2041-reversal"
    reversal["Transactions"][0]["CreditOrDebit"] = "Debit"
    body = reversal["Transactions"][0]["Payments"][0]["Claims"][0]
    body["Status"] = "Reversal of Previous Payment"
    for key in ("ChargedAmount", "PaymentAmount", "PatientResponsibilityAmount"):
        body[key] = str(-Decimal(body[key]))
    for line in body["Services"]:
        line["ChargedAmount"] = str(-Decimal(line["ChargedAmount"]))
        line["PaymentAmount"] = str(-Decimal(line["PaymentAmount"]))
        for a in line["Adjustments"]:
            a["Amount"] = str(-Decimal(a["Amount"]))
    corrected = paid_by(
        batch(
            "log-2041-corrected",
            claim(
                "MED-2041",
                control="LBS-88121",
                status="Processed as Primary, Forwarded to Additional Payer(s)",
                charged="250.00",
                paid="144.00",
                patient="36.00",
                services=[
                    service(
                        "250.00",
                        "144.00",
                        adj("70.00", "CO", "45"),
                        adj("36.00", PR, "Coinsurance amount"),
                    )
                ],
            ),
        ),
        LAKESIDE,
    )
    return Case(
        name="history",
        steps=[
            cob.steps[0],
            primary,
            Batch(reissue),
            Batch(reversal),
            Batch(corrected),
            secondary,
        ],
        postings=[],
    )


async def test_the_claim_view_shows_money_per_payer_payments_and_their_links(
    ledger: ClaimLedger, poster: Poster
) -> None:
    results = await run_steps(ledger, poster, _history())
    first, reissue, reversal, corrected, secondary = (r.message_id for r in results)
    found = await ledger.find_claim("MED-2041")
    assert found is not None
    view = await claim_view(ledger, found)
    document = json.loads(view.model_dump_json(by_alias=True))
    jsonschema.validate(document, claim_view_json_schema())

    assert document["schema"] == "claimflow.claim-view.v1"
    assert document["claim"]["status"] == "paid_in_full"
    assert document["money"] == {
        "charged": "250.00",
        "paid": "180.00",
        "patient_share": "0.00",
        "adjusted": "70.00",
        "open": "0.00",
        "credit_balance": False,
    }
    payers = {p["name"]: p for p in document["payers"]}
    assert payers[LAKESIDE[0]]["position"] == "primary"
    assert payers[LAKESIDE[0]]["paid"] == "144.00"
    assert payers[LAKESIDE[0]]["adjustments_by_group"] == {"CO": "70.00", "PR": "36.00"}
    assert payers[MEDICAID[0]]["latest"] is True
    assert payers[MEDICAID[0]]["prior_payer"] == "214.00"
    states = {p["message_id"]: p for p in document["payments"]}
    assert states[first]["state"] == "reversed"
    assert states[first]["reversed_by"] == reversal
    assert states[reversal]["state"] == "reversal"
    assert states[reversal]["reverses"] == first
    assert states[reissue]["state"] == "held"
    assert states[reissue]["hold_reason"] == "possible_duplicate"
    assert states[reissue]["duplicate_of"] == first
    assert states[corrected]["state"] == "posted"
    assert states[secondary]["state"] == "posted"
    assert [f["rule"] for f in document["follow_ups"]] == ["possible-duplicate"]
    kinds = [e["kind"] for e in document["timeline"]]
    assert kinds[0] == "submitted"
    assert {"held", "reversed", "balance"} <= set(kinds)
    assert "Bixby" not in json.dumps(document)


def test_repeated_identical_timeline_events_are_collapsed_in_the_text_view() -> None:
    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    review = "a payment may belong to this claim and waits for review: 2 claims match"
    events = [TimelineEvent(at=at, kind="submitted", summary="claim X submitted", message_id=None)]
    events += [
        TimelineEvent(at=at, kind="review", summary=review, message_id=f"m{i}") for i in range(2000)
    ]
    events.append(TimelineEvent(at=at, kind="paid", summary="paid 10.00", message_id="p"))
    view = ClaimView(
        claim=ClaimSummary(
            id=1,
            claim_number="X",
            status="submitted",
            payer_id=None,
            payer_name=None,
            service_start=None,
            service_end=None,
            submitted_on=None,
            source="test",
        ),
        money=Money(
            charged=Decimal("10.00"),
            paid=Decimal("10.00"),
            patient_share=Decimal("0.00"),
            adjusted=Decimal("0.00"),
            open=Decimal("0.00"),
            credit_balance=False,
        ),
        payers=[],
        payments=[],
        review_candidates=[],
        follow_ups=[],
        timeline=events,
    )
    text = render_claim_view(view)
    assert f"{review}  \u00d7 2,000" in text
    assert len(text.splitlines()) < 15


@pytest.mark.usefixtures("ledger")
def test_claim_show_json_from_the_command_line(
    ledger_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("CLAIMFLOW_DATABASE__URL", ledger_url)
    path = tmp_path / "claims.csv"
    path.write_text(
        "claim_number,charged_amount,patient_first_name,patient_last_name\nA-1,100.00,Ann,Smith\n"
    )
    assert main(["claims", "import", str(path)]) == 0
    capsys.readouterr()
    assert main(["claim", "show", "A-1", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, claim_view_json_schema())
    assert document["claim"]["claim_number"] == "A-1"
    assert document["money"]["open"] == "100.00"
    assert "Smith" not in json.dumps(document)
    assert main(["claim", "show", "A-1"]) == 0
    assert "open 100.00" in capsys.readouterr().out


async def test_a_claim_with_many_review_items_stays_readable(
    ledger: ClaimLedger, poster: Poster
) -> None:
    steps: list[Claims | Batch] = [Claims([ledger_claim("TWIN-1"), ledger_claim("TWIN-2")])]
    steps += [Batch(batch(f"log-twin-{i}", claim(f"GARBLED-{i}"))) for i in range(5)]
    await run_steps(ledger, poster, Case(name="twins", steps=steps, postings=[]))
    found = await ledger.find_claim("TWIN-1")
    assert found is not None
    view = await claim_view(ledger, found)
    assert len(view.review_candidates) == 5
    assert all(r.candidates == [found.id, found.id + 1] for r in view.review_candidates)
    assert "\u00d7 5" in render_claim_view(view)
