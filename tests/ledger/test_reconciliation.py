"""Exact-Decimal reconciliation of claims and transactions (no database)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.ledger.codes import (
    AdjustmentGroup,
    ClaimStatus,
    adjustment_group,
    carc_code,
    claim_status,
    rarc_codes,
)
from handlers.ledger.reconciliation import reconcile_claim, reconcile_transaction
from router.redox import ClaimPayment, PaymentBatch, TransactionHeader
from tests.ledger.corpus import CO, PR, adj, claim, service


def _claim(payload: dict[str, Any]) -> ClaimPayment:
    return ClaimPayment.model_validate(payload)


def test_the_sample_claims_reconcile_to_the_cent(sample_payload: dict[str, Any]) -> None:
    batch = PaymentBatch.model_validate(sample_payload)
    for payment in batch.transactions[0].payments:
        rec = reconcile_claim(payment.claims[0])
        assert rec.balanced
        assert rec.patient_responsibility == Decimal("20.00")
        assert rec.adjusted_in(AdjustmentGroup.PR) == Decimal("20.00")


def test_the_sample_transaction_total_is_flagged_not_fixed(sample_payload: dict[str, Any]) -> None:
    batch = PaymentBatch.model_validate(sample_payload)
    transaction = batch.transactions[0]
    paid = [reconcile_claim(p.claims[0]).paid for p in transaction.payments]
    check = reconcile_transaction(transaction, paid)
    assert not check.balanced
    assert check.payments == Decimal("140.00")
    assert check.total == Decimal("580.00")
    assert check.differences[0].amount == Decimal("-440.00")


def test_a_debit_transaction_counts_its_total_as_negative() -> None:
    header = TransactionHeader.model_validate(
        {"TotalPaymentAmount": "80.00", "CreditOrDebit": "Debit"}
    )
    assert reconcile_transaction(header, [Decimal("-80.00")]).balanced


def test_a_one_cent_difference_is_flagged_and_the_tolerance_can_allow_it() -> None:
    payload = claim("X", paid="79.99", services=[service("100.00", "79.99", adj("20.00", PR, "1"))])
    strict = reconcile_claim(_claim(payload))
    assert {d.check for d in strict.differences} == {"claim_balance", "service_balance"}
    assert all(abs(d.amount) == Decimal("0.01") for d in strict.differences)
    assert reconcile_claim(_claim(payload), tolerance=Decimal("0.01")).balanced


def test_patient_responsibility_must_equal_the_pr_adjustments() -> None:
    payload = claim(
        "X", patient="25.00", services=[service("100.00", "80.00", adj("20.00", PR, "1"))]
    )
    rec = reconcile_claim(_claim(payload))
    assert [d.check for d in rec.differences] == ["patient_responsibility"]


def test_patient_responsibility_without_pr_adjustments_balances_the_claim() -> None:
    payload = claim("X", paid="80.00", patient="20.00", services=[])
    assert reconcile_claim(_claim(payload)).balanced


def test_claim_level_adjustments_reduce_the_claim_below_its_lines() -> None:
    payload = claim(
        "X",
        charged="100.00",
        paid="75.00",
        patient="20.00",
        adjustments=[adj("5.00", CO, "131")],
        services=[service("100.00", "80.00", adj("20.00", PR, "1"))],
    )
    assert reconcile_claim(_claim(payload)).balanced


def test_a_missing_charged_amount_is_reported_not_guessed() -> None:
    payload = claim("X")
    payload["ChargedAmount"] = None
    rec = reconcile_claim(_claim(payload))
    assert rec.missing == ("ChargedAmount",)
    assert not rec.balanced


cents = st.integers(min_value=0, max_value=10_000_00).map(lambda c: Decimal(c) / 100)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(paid=cents, patient=cents, contractual=cents)
def test_any_balanced_claim_and_its_reversal_reconcile(
    paid: Decimal, patient: Decimal, contractual: Decimal
) -> None:
    charged = paid + patient + contractual

    def build(sign: int) -> dict[str, Any]:
        def m(v: Decimal) -> str:
            return format(v * sign, "f")

        return claim(
            "X",
            charged=m(charged),
            paid=m(paid),
            patient=m(patient),
            services=[
                service(
                    m(charged), m(paid), adj(m(patient), PR, "1"), adj(m(contractual), CO, "45")
                )
            ],
        )

    assert reconcile_claim(_claim(build(1))).balanced
    reversal = reconcile_claim(_claim(build(-1)))
    assert reversal.balanced
    assert reversal.paid == -paid


def test_statuses_map_from_redox_text_and_835_codes() -> None:
    assert claim_status("Processed as Primary") is ClaimStatus.PROCESSED
    assert claim_status("Processed as Secondary") is ClaimStatus.PROCESSED
    assert claim_status("2") is ClaimStatus.PROCESSED
    assert claim_status("Denied") is ClaimStatus.DENIED
    assert claim_status("4") is ClaimStatus.DENIED
    assert claim_status("Reversal of Previous Payment") is ClaimStatus.REVERSAL
    assert claim_status("22") is ClaimStatus.REVERSAL
    fwd = "Processed as Primary, Forwarded to Additional Payer(s)"
    assert claim_status(fwd) is ClaimStatus.FORWARDED
    assert claim_status("19") is ClaimStatus.FORWARDED
    noc = "Not Our Claim, Forwarded to Additional Payer(s)"
    assert claim_status(noc) is ClaimStatus.NOT_OUR_CLAIM
    assert claim_status("23") is ClaimStatus.NOT_OUR_CLAIM
    pre = "Predetermination Pricing Only - No Payment"
    assert claim_status(pre) is ClaimStatus.PREDETERMINATION
    assert claim_status("25") is ClaimStatus.PREDETERMINATION
    assert claim_status("Something new") is ClaimStatus.UNKNOWN
    assert claim_status(None) is ClaimStatus.UNKNOWN


def test_adjustment_groups_and_reason_codes_from_text_or_codes() -> None:
    assert adjustment_group("Patient responsibility") is AdjustmentGroup.PR
    assert adjustment_group("Contractual obligations") is AdjustmentGroup.CO
    assert adjustment_group("Other adjustments") is AdjustmentGroup.OA
    assert adjustment_group("Payer initiated reductions") is AdjustmentGroup.PI
    assert adjustment_group("pr") is AdjustmentGroup.PR
    assert carc_code("Deductible amount") == "1"
    assert carc_code("Claim specific negotiated discount") == "131"
    assert carc_code("252") == "252"
    assert carc_code("CO-252") == "252"
    assert (
        carc_code("An attachment/other documentation is required to adjudicate this claim/service.")
        == "252"
    )
    assert carc_code("M127") is None
    assert carc_code("Something else") is None
    assert rarc_codes("N706 missing documentation; see M127") == ["N706", "M127"]
