"""The posting rules beyond what a corpus case checks: money per payer, the holds and the
payment they name, reversals that never go below zero, codes in every spelling, and long or
null values on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from handlers.ledger.claim_money import claim_money
from handlers.ledger.codes import (
    AdjustmentGroup,
    ClaimStatus,
    adjustment_group,
    carc_code,
    claim_status,
    payer_rank,
    rarc_codes,
)
from handlers.ledger.followup_rules import FollowUpFacts, RuleSet, decide
from handlers.ledger.posting import Poster
from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import ParkedPayment, PaymentReceipt, TimelineEvent
from tests.ledger.corpus import Batch, Case, Claims, batch, claim, ledger_claim
from tests.ledger.corpus_rules import LAKESIDE, MEDICAID, RULE_CASES
from tests.ledger.support import payment_messages, run_steps


def _case(name: str) -> Case:
    return next(c for c in RULE_CASES if c.name == name)


async def _events(ledger: ClaimLedger, number: str) -> list[TimelineEvent]:
    claim_ = await ledger.find_claim(number)
    assert claim_ is not None
    events, _, _, _ = await ledger.history(claim_.id)
    return events


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("252", "252"),
        ("CO-252", "252"),
        ("252 - An attachment/other documentation is required", "252"),
        ("An attachment/other documentation is required to adjudicate this claim/service.", "252"),
        ("Deductible Amount", "1"),
        ("1 - Deductible Amount", "1"),
        ("The impact of prior payer(s) adjudication including payments and/or adjustments", "23"),
        ("Interest", None),
    ],
)
def test_a_carc_is_read_as_code_code_with_text_or_official_description(
    text: str, code: str | None
) -> None:
    assert carc_code(text) == code


def test_groups_statuses_and_remarks_are_read_in_every_spelling() -> None:
    for text in ("PR", "PR - Patient Responsibility", "Patient Responsibility"):
        assert adjustment_group(text) is AdjustmentGroup.PR
    for text in ("OA", "OA - Other Adjustments", "Other adjustments"):
        assert adjustment_group(text) is AdjustmentGroup.OA
    assert adjustment_group("Payor Initiated Reductions") is AdjustmentGroup.PI
    assert adjustment_group("CR - Corrections and Reversals") is AdjustmentGroup.CR
    for text in ("22", "22 - Reversal of Previous Payment", "Reversal of Previous Payment"):
        assert claim_status(text) is ClaimStatus.REVERSAL
    for text in ("2", "2 - Processed as Secondary", "Processed as Secondary"):
        assert claim_status(text) is ClaimStatus.PROCESSED
        assert payer_rank(text) == 2
    assert claim_status("4 - Denied") is ClaimStatus.DENIED
    assert payer_rank("Processed as Primary, Forwarded to Additional Payer(s)") == 1
    assert rarc_codes("N706 - Missing documentation") == ["N706"]
    assert rarc_codes("Missing patient medical record for this service.") == ["M127"]


def test_no_denial_falls_through_even_a_rules_file_without_denial_rules() -> None:
    facts = FollowUpFacts(
        outcome="denied",
        status=ClaimStatus.DENIED,
        carcs=frozenset({"27"}),
        rarcs=frozenset(),
        reasons=(),
        match="matched",
        reconciled=True,
    )
    decisions = decide(facts, RuleSet(rules=[]))
    assert [(d.action, d.rule) for d in decisions] == [("work_by_hand", "denial-not-covered")]
    assert "27" in decisions[0].reason


async def test_money_per_payer_after_the_secondary_pays_the_coinsurance(
    ledger: ClaimLedger, poster: Poster
) -> None:
    await run_steps(
        ledger, poster, _case("cob_secondary_pays_the_coinsurance_patient_owes_nothing")
    )
    claim_ = await ledger.find_claim("MED-2041")
    assert claim_ is not None
    _, payments, _, _ = await ledger.history(claim_.id)
    money = claim_money(claim_.charged_amount, payments)
    by_payer = {m.name: m for m in money.payers}
    primary, secondary = by_payer[LAKESIDE[0]], by_payer[MEDICAID[0]]
    assert (primary.rank, primary.paid, primary.patient_responsibility) == (
        1,
        Decimal("144.00"),
        Decimal("36.00"),
    )
    assert primary.adjustments_by_group == {"CO": Decimal("70.00"), "PR": Decimal("36.00")}
    assert (secondary.rank, secondary.paid, secondary.prior_payer) == (
        2,
        Decimal("36.00"),
        Decimal("214.00"),
    )
    assert secondary.adjusted == Decimal("0.00")  # OA-23 is no write-off
    assert secondary.latest
    assert not primary.latest
    assert (money.patient_share, money.open) == (Decimal("0.00"), Decimal("0.00"))
    balance = [e.summary for e in await _events(ledger, "MED-2041") if e.kind == "balance"]
    assert balance[-1].startswith(
        "balance: charged 250.00 = paid 180.00 + patient share 0.00 + adjusted 70.00 + open "
        "0.00; status paid in full"
    )


async def test_a_held_duplicate_names_the_earlier_payment_and_changes_no_money(
    ledger: ClaimLedger, poster: Poster
) -> None:
    results = await run_steps(
        ledger, poster, _case("reissued_check_for_the_same_claim_is_held_not_posted")
    )
    first, second = results
    async with ledger.unit() as unit:
        parked = await unit.parked(second.message_id)
    assert parked is not None
    assert (parked.reason, parked.related_message_id) == ("possible_duplicate", first.message_id)
    held = [e.summary for e in await _events(ledger, "OFF-7781") if e.kind == "held"]
    assert len(held) == 1
    assert first.message_id in held[0]
    assert "possible duplicate" in held[0]


async def test_a_reversal_without_its_original_never_takes_paid_below_zero(
    ledger: ClaimLedger, poster: Poster
) -> None:
    await run_steps(
        ledger, poster, _case("reversal_of_a_payment_the_ledger_never_had_goes_to_review")
    )
    claim_ = await ledger.find_claim("LAB-0917")
    assert claim_ is not None
    assert (claim_.paid_amount, claim_.patient_responsibility) == (Decimal("0"), Decimal("0"))
    async with ledger.unit() as unit:
        parked = list(await unit.session.scalars(select(ParkedPayment)))
    assert [(p.reason, p.claim_id) for p in parked] == [("reversal_without_original", claim_.id)]


def _long_and_null(payload: dict[str, Any], control: str) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    transaction = out["Transactions"][0]
    transaction["ID"] = "T" * 300
    transaction["CreditOrDebit"] = "Credit-" * 20
    transaction["TotalPaymentAmount"] = "0000000000000000000000000000000000000000000080.00"
    transaction["Submitter"] = None
    payment = transaction["Payments"][0]
    payment["Patient"] = None
    payment["DateTime"] = None
    c = payment["Claims"][0]
    c["ControlNumber"] = control
    c["Status"] = None
    c["PatientResponsibilityAmount"] = None
    c["ReceivedDate"] = None
    c["Adjustments"] = [{"Amount": None, "Quantity": None, "Type": None, "Reason": None}]
    c["Services"][0]["Adjustments"].append(
        {"Amount": "0.00", "Quantity": None, "Type": "X" * 500, "Reason": "Y" * 500}
    )
    c["Services"][0]["ReferenceNumbers"] = [{"ID": None, "IDType": None}]
    return out


async def test_long_numbers_and_nulls_anywhere_are_stored_as_given(
    ledger: ClaimLedger, poster: Poster
) -> None:
    steps: list[Claims | Batch] = [
        Claims([ledger_claim("LONG-1")]),
        Batch(_long_and_null(batch("log-long", claim("LONG-1")), "ICN" + "9" * 250)),
        Batch(_long_and_null(batch("log-long-2", claim("Z" * 200)), "ICN" + "8" * 250)),
    ]
    results = await run_steps(ledger, poster, Case(name="long", steps=steps, postings=[]))
    assert [r.state for r in results] == ["applied", "parked"]
    claim_ = await ledger.find_claim("LONG-1")
    assert claim_ is not None
    assert claim_.paid_amount == Decimal("80.00")
    async with ledger.unit() as unit:
        receipts = list(await unit.session.scalars(select(PaymentReceipt)))
    assert {len(r.transaction_id or "") for r in receipts} == {300}


async def test_a_redelivered_secondary_changes_nothing(ledger: ClaimLedger, poster: Poster) -> None:
    case = _case("cob_secondary_pays_the_coinsurance_patient_owes_nothing")
    await run_steps(ledger, poster, case)
    before = await ledger.find_claim("MED-2041")
    secondary = case.steps[2]
    assert isinstance(secondary, Batch)
    for message in payment_messages(secondary.payload):
        async with ledger.unit() as unit:
            assert (await poster.post_payment(unit, message)).state == "redelivered"
    after = await ledger.find_claim("MED-2041")
    assert before is not None
    assert after is not None
    assert (after.paid_amount, after.patient_responsibility, after.status) == (
        before.paid_amount,
        before.patient_responsibility,
        before.status,
    )
