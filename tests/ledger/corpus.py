"""The PaymentBatch corpus: variants of Redox's sample, each with the outcome it must have.

Every case is a list of steps (claims entering the ledger, PaymentBatch deliveries) and what
the ledger must show afterwards. Amounts follow the Redox schema (adjustments: positive
reduces the payment) and the 835 meanings (shared/reference/partner-api-notes.md).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from handlers.ledger.intake import NewClaim

SAMPLE = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "redox-claim-paymentbatch.json").read_text()
)
PATIENT: dict[str, Any] = SAMPLE["Transactions"][0]["Payments"][0]["Patient"]


def adj(amount: str, kind: str, reason: str) -> dict[str, Any]:
    return {"Amount": amount, "Quantity": None, "Type": kind, "Reason": reason}


PR = "Patient responsibility"
CO = "Contractual obligations"
OA = "Other adjustments"


def service(charged: str, paid: str, *adjustments: dict[str, Any]) -> dict[str, Any]:
    return {
        "ChargedAmount": charged,
        "PaymentAmount": paid,
        "AllowedAmount": None,
        "Adjustments": list(adjustments),
        "ReferenceNumbers": [{"ID": "1", "IDType": "Control Number"}],
    }


def claim(
    number: str | None,
    *,
    control: str = "CN-1",
    status: str = "Processed as Primary",
    charged: str = "100.00",
    paid: str = "80.00",
    patient: str = "20.00",
    adjustments: list[dict[str, Any]] | None = None,
    services: list[dict[str, Any]] | None = None,
    references: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    if services is None:
        services = [service(charged, paid, adj(patient, PR, "Deductible amount"))]
    return {
        "ControlNumber": control,
        "SubmissionNumber": number,
        "ReceivedDate": "2016-10-31",
        "StartDateTime": "2016-10-20",
        "EndDateTime": "2016-10-20",
        "Status": status,
        "ChargedAmount": charged,
        "PaymentAmount": paid,
        "PatientResponsibilityAmount": patient,
        "ReferenceNumbers": references or [],
        "Adjustments": adjustments or [],
        "Services": services,
    }


def batch(log_id: str, *claims: dict[str, Any], total: str | None = None) -> dict[str, Any]:
    """A PaymentBatch with the sample's envelope, one payment per claim, balanced by default."""
    payload: dict[str, Any] = copy.deepcopy(SAMPLE)
    payload["Meta"]["Logs"] = [{"ID": log_id, "AttemptID": f"{log_id}-attempt"}]
    transaction = payload["Transactions"][0]
    transaction["ID"] = f"tx-{log_id}"
    paid = sum((Decimal(c["PaymentAmount"]) for c in claims), Decimal("0"))
    transaction["TotalPaymentAmount"] = total if total is not None else str(abs(paid))
    transaction["CreditOrDebit"] = "Debit" if paid < 0 and total is None else "Credit"
    transaction["Payments"] = [
        {"DateTime": "2016-11-08T02:11:03.111Z", "Patient": copy.deepcopy(PATIENT), "Claims": [c]}
        for c in claims
    ]
    return payload


def ledger_claim(number: str, charged: str = "100.00", **extra: Any) -> NewClaim:
    values: dict[str, Any] = {
        "claim_number": number,
        "charged_amount": charged,
        "payer_name": "National Insurance Company of Redox",
        "patient_first_name": "Timothy",
        "patient_last_name": "Bixby",
        "patient_dob": "2008-01-06",
        "service_start": "2016-10-20",
        "service_end": "2016-10-20",
    }
    values.update(extra)
    return NewClaim.model_validate(values)


@dataclass(frozen=True)
class Claims:
    """Claims entering the ledger (an import, or Claim.Submit messages)."""

    claims: list[NewClaim]


@dataclass(frozen=True)
class Batch:
    """A PaymentBatch delivery; ``log_id`` defaults to the one in the payload."""

    payload: dict[str, Any]
    log_id: str | None = None


@dataclass(frozen=True)
class Expect:
    status: str
    paid: str
    patient_responsibility: str
    adjusted: str


@dataclass(frozen=True)
class Case:
    name: str
    steps: list[Claims | Batch]
    # (state, outcome) of every claim payment posted, in order (parked ones again when matched)
    postings: list[tuple[str, str | None]]
    claims: dict[str, Expect] = field(default_factory=dict)
    # (action, rule) of every follow-up decided, per claim number
    follow_ups: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # transaction checks, in order: None when balanced, else the difference (actual - expected)
    transactions: list[str | None] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    match_methods: list[str] = field(default_factory=list)


def _sample_steps() -> list[Claims | Batch]:
    return [
        Claims([ledger_claim("66729659983"), ledger_claim("774466586")]),
        Batch(copy.deepcopy(SAMPLE)),
    ]


CORPUS: list[Case] = [
    Case(
        name="redox_sample",
        steps=_sample_steps(),
        postings=[("applied", "paid_in_full"), ("applied", "paid_in_full")],
        claims={
            "66729659983": Expect("paid_in_full", "65.00", "20.00", "15.00"),
            "774466586": Expect("paid_in_full", "75.00", "20.00", "5.00"),
        },
        follow_ups={
            "66729659983": [("status_check", "transaction-total-differs")],
            "774466586": [("status_check", "transaction-total-differs")],
        },
        transactions=["-440.00"],
        match_methods=["submission_number", "submission_number"],
    ),
    Case(
        name="full_pay",
        steps=[Claims([ledger_claim("FULL-1")]), Batch(batch("log-full", claim("FULL-1")))],
        postings=[("applied", "paid_in_full")],
        claims={"FULL-1": Expect("paid_in_full", "80.00", "20.00", "0.00")},
        transactions=[None],
    ),
    Case(
        name="partial_pay_line_needs_documents",
        steps=[
            Claims([ledger_claim("PART-1", "200.00")]),
            Batch(
                batch(
                    "log-part",
                    claim(
                        "PART-1",
                        charged="200.00",
                        paid="80.00",
                        patient="20.00",
                        services=[
                            service("100.00", "80.00", adj("20.00", PR, "Deductible amount")),
                            service("100.00", "0.00", adj("100.00", CO, "252")),
                        ],
                    ),
                )
            ),
        ],
        postings=[("applied", "partially_paid")],
        claims={"PART-1": Expect("partially_paid", "80.00", "20.00", "100.00")},
        follow_ups={"PART-1": [("attachment", "documentation-required")]},
        transactions=[None],
    ),
    Case(
        name="zero_pay_denial",
        steps=[
            Claims([ledger_claim("DENY-1")]),
            Batch(
                batch(
                    "log-deny",
                    claim(
                        "DENY-1",
                        status="Denied",
                        paid="0.00",
                        patient="0.00",
                        adjustments=[adj("100.00", CO, "The time limit for filing has expired.")],
                        services=[],
                    ),
                )
            ),
        ],
        postings=[("applied", "denied")],
        claims={"DENY-1": Expect("denied", "0.00", "0.00", "100.00")},
        follow_ups={"DENY-1": [("status_check", "denied-without-documentation-reason")]},
        transactions=[None],
    ),
    Case(
        name="processed_with_nothing_paid_is_a_denial",
        steps=[
            Claims([ledger_claim("ZERO-1")]),
            Batch(
                batch(
                    "log-zero",
                    claim(
                        "ZERO-1",
                        paid="0.00",
                        patient="0.00",
                        services=[service("100.00", "0.00", adj("100.00", CO, "50"))],
                    ),
                )
            ),
        ],
        postings=[("applied", "denied")],
        claims={"ZERO-1": Expect("denied", "0.00", "0.00", "100.00")},
        follow_ups={"ZERO-1": [("status_check", "denied-without-documentation-reason")]},
        transactions=[None],
    ),
    Case(
        name="reversal_then_correction",
        steps=[
            Claims([ledger_claim("REV-1")]),
            Batch(batch("log-rev-1", claim("REV-1", control="PCN-7"))),
            Batch(
                batch(
                    "log-rev-2",
                    claim(
                        "REV-1",
                        control="PCN-7",
                        status="Reversal of Previous Payment",
                        charged="-100.00",
                        paid="-80.00",
                        patient="-20.00",
                        services=[
                            service("-100.00", "-80.00", adj("-20.00", PR, "Deductible amount"))
                        ],
                    ),
                    claim(
                        "REV-1",
                        control="PCN-8",
                        paid="90.00",
                        patient="10.00",
                        services=[
                            service("100.00", "90.00", adj("10.00", PR, "Coinsurance amount"))
                        ],
                    ),
                    total="10.00",
                )
            ),
        ],
        postings=[
            ("applied", "paid_in_full"),
            ("applied", "reversed"),
            ("applied", "paid_in_full"),
        ],
        claims={"REV-1": Expect("paid_in_full", "90.00", "10.00", "0.00")},
        transactions=[None, None],
    ),
    Case(
        name="overpayment",
        steps=[
            Claims([ledger_claim("OVER-1")]),
            Batch(
                batch(
                    "log-over",
                    claim(
                        "OVER-1",
                        paid="105.00",
                        patient="0.00",
                        services=[service("100.00", "105.00", adj("-5.00", OA, "Interest"))],
                    ),
                )
            ),
        ],
        postings=[("applied", "paid_in_full")],
        claims={"OVER-1": Expect("paid_in_full", "105.00", "0.00", "-5.00")},
        flags=["overpayment"],
        transactions=[None],
    ),
    Case(
        name="negative_payment_without_reversal",
        steps=[
            Claims([ledger_claim("NEG-1")]),
            Batch(
                batch(
                    "log-neg",
                    claim(
                        "NEG-1",
                        paid="-30.00",
                        patient="0.00",
                        services=[service("100.00", "-30.00", adj("130.00", OA, "Recoupment"))],
                    ),
                )
            ),
        ],
        postings=[("review", "needs_review")],
        claims={"NEG-1": Expect("submitted", "0.00", "0.00", "0.00")},
        follow_ups={"NEG-1": [("status_check", "negative-payment")]},
        transactions=[None],
        flags=["negative_payment"],
    ),
    Case(
        name="several_payments_for_one_claim",
        steps=[
            Claims([ledger_claim("MULTI-1")]),
            Batch(
                batch(
                    "log-primary",
                    claim(
                        "MULTI-1",
                        control="PRI-1",
                        paid="60.00",
                        patient="20.00",
                        services=[
                            service(
                                "100.00",
                                "60.00",
                                adj("20.00", PR, "Coinsurance amount"),
                                adj("20.00", CO, "45"),
                            )
                        ],
                    ),
                )
            ),
            Batch(
                batch(
                    "log-secondary",
                    claim(
                        "MULTI-1",
                        control="SEC-1",
                        status="Processed as Secondary",
                        paid="20.00",
                        patient="0.00",
                        services=[service("100.00", "20.00", adj("80.00", CO, "23"))],
                    ),
                )
            ),
        ],
        postings=[("applied", "paid_in_full"), ("applied", "paid_in_full")],
        # CARC 23 is the primary's impact, no write-off; the secondary paid the coinsurance,
        # so the patient owes nothing (issue 8: the old 20.00 / 100.00 billed the patient).
        claims={"MULTI-1": Expect("paid_in_full", "80.00", "0.00", "20.00")},
        transactions=[None, None],
    ),
    Case(
        name="claim_and_service_level_adjustments",
        steps=[
            Claims([ledger_claim("LEVELS-1", "150.00")]),
            Batch(
                batch(
                    "log-levels",
                    claim(
                        "LEVELS-1",
                        charged="150.00",
                        paid="110.00",
                        patient="25.00",
                        adjustments=[adj("5.00", CO, "Claim specific negotiated discount")],
                        services=[
                            service("100.00", "80.00", adj("20.00", PR, "Deductible amount")),
                            service(
                                "50.00",
                                "35.00",
                                adj("5.00", PR, "Co-payment amount"),
                                adj("10.00", CO, "45"),
                            ),
                        ],
                    ),
                )
            ),
        ],
        postings=[("applied", "paid_in_full")],
        claims={"LEVELS-1": Expect("paid_in_full", "110.00", "25.00", "15.00")},
        transactions=[None],
    ),
    Case(
        name="amounts_that_do_not_add_up_are_flagged",
        steps=[
            Claims([ledger_claim("ODD-1")]),
            Batch(
                batch(
                    "log-odd",
                    claim(
                        "ODD-1",
                        paid="70.00",
                        patient="20.00",
                        services=[
                            service("100.00", "70.00", adj("20.00", PR, "Deductible amount"))
                        ],
                    ),
                )
            ),
        ],
        postings=[("applied", "partially_paid")],
        claims={"ODD-1": Expect("partially_paid", "70.00", "20.00", "0.00")},
        follow_ups={"ODD-1": [("status_check", "claim-amounts-differ")]},
        flags=["reconciliation_difference"],
        transactions=[None],
    ),
    Case(
        name="unknown_claim",
        steps=[Batch(batch("log-unknown", claim("NOBODY-1")))],
        postings=[("parked", "unmatched")],
        transactions=[None],
    ),
    Case(
        name="ambiguous_demographic_match",
        steps=[
            Claims([ledger_claim("AMB-1"), ledger_claim("AMB-2")]),
            Batch(batch("log-amb", claim("GARBLED-99"))),
        ],
        postings=[("review", "needs_review")],
        claims={
            "AMB-1": Expect("submitted", "0.00", "0.00", "0.00"),
            "AMB-2": Expect("submitted", "0.00", "0.00", "0.00"),
        },
        transactions=[None],
        match_methods=["demographic"],
    ),
    Case(
        name="unique_demographic_match_is_only_suggested",
        steps=[
            Claims([ledger_claim("DEMO-1"), ledger_claim("DEMO-2", "250.00")]),
            Batch(batch("log-demo", claim("GARBLED-98"))),
        ],
        postings=[("review", "needs_review")],
        claims={"DEMO-1": Expect("submitted", "0.00", "0.00", "0.00")},
        transactions=[None],
        match_methods=["demographic"],
    ),
    Case(
        name="payment_before_claim",
        steps=[
            Batch(batch("log-early", claim("EARLY-1"))),
            Claims([ledger_claim("EARLY-1")]),
        ],
        postings=[("parked", "unmatched"), ("applied", "paid_in_full")],
        claims={"EARLY-1": Expect("paid_in_full", "80.00", "20.00", "0.00")},
        transactions=[None],
        match_methods=["none", "submission_number"],
    ),
    Case(
        name="duplicate_batch",
        steps=[
            Claims([ledger_claim("DUP-1")]),
            Batch(batch("log-dup", claim("DUP-1"))),
            Batch(batch("log-dup", claim("DUP-1"))),
            Batch(batch("log-dup", claim("DUP-1")), log_id="log-dup-resent"),
        ],
        postings=[("applied", "paid_in_full"), ("redelivered", None), ("duplicate", None)],
        claims={"DUP-1": Expect("paid_in_full", "80.00", "20.00", "0.00")},
        transactions=[None],
    ),
    Case(
        name="remembered_control_number",
        steps=[
            Claims([ledger_claim("CTRL-1")]),
            Batch(batch("log-ctrl-1", claim("CTRL-1", control="PAYER-555"))),
            Batch(
                batch(
                    "log-ctrl-2",
                    claim(
                        None,
                        control="PAYER-555",
                        status="Reversal of Previous Payment",
                        charged="-100.00",
                        paid="-80.00",
                        patient="-20.00",
                        services=[
                            service("-100.00", "-80.00", adj("-20.00", PR, "Deductible amount"))
                        ],
                    ),
                )
            ),
        ],
        postings=[("applied", "paid_in_full"), ("applied", "reversed")],
        claims={"CTRL-1": Expect("reversed", "0.00", "0.00", "0.00")},
        transactions=[None, None],
        match_methods=["submission_number", "control_number"],
    ),
    Case(
        name="truncated_submission_number",
        steps=[
            Claims([ledger_claim("ABCDEFGHIJ-KLMNOPQRSTUVWX")]),
            Batch(batch("log-trunc", claim("ABCDEFGHIJKLMNOPQRST"))),
        ],
        postings=[("applied", "paid_in_full")],
        claims={"ABCDEFGHIJ-KLMNOPQRSTUVWX": Expect("paid_in_full", "80.00", "20.00", "0.00")},
        transactions=[None],
        match_methods=["submission_number_prefix"],
    ),
    Case(
        name="forwarded_to_another_payer",
        steps=[
            Claims([ledger_claim("FWD-1")]),
            Batch(
                batch(
                    "log-fwd",
                    claim("FWD-1", status="Processed as Primary, Forwarded to Additional Payer(s)"),
                )
            ),
        ],
        postings=[("applied", "forwarded")],
        claims={"FWD-1": Expect("forwarded", "80.00", "20.00", "0.00")},
        transactions=[None],
    ),
    Case(
        name="not_our_claim",
        steps=[
            Claims([ledger_claim("NOC-1")]),
            Batch(
                batch(
                    "log-noc",
                    claim(
                        "NOC-1",
                        status="Not Our Claim, Forwarded to Additional Payer(s)",
                        paid="0.00",
                        patient="0.00",
                        services=[service("100.00", "0.00", adj("100.00", OA, "109"))],
                    ),
                )
            ),
        ],
        postings=[("applied", "not_our_claim")],
        claims={"NOC-1": Expect("not_our_claim", "0.00", "0.00", "100.00")},
        follow_ups={"NOC-1": [("status_check", "not-our-claim")]},
        transactions=[None],
    ),
    Case(
        name="predetermination_is_not_a_payment",
        steps=[
            Claims([ledger_claim("PRE-1")]),
            Batch(
                batch(
                    "log-pre",
                    claim(
                        "PRE-1",
                        status="Predetermination Pricing Only - No Payment",
                        paid="0.00",
                        patient="0.00",
                        services=[service("100.00", "0.00", adj("100.00", CO, "45"))],
                    ),
                )
            ),
        ],
        postings=[("recorded", "predetermination")],
        claims={"PRE-1": Expect("submitted", "0.00", "0.00", "0.00")},
        transactions=[None],
    ),
    Case(
        name="numeric_status_and_remark_codes_ask_for_records",
        steps=[
            Claims([ledger_claim("RARC-1")]),
            Batch(
                batch(
                    "log-rarc",
                    claim(
                        "RARC-1",
                        status="4",
                        paid="0.00",
                        patient="0.00",
                        references=[{"ID": "RFAI-42", "IDType": "Payer Tracking Number"}],
                        services=[
                            service(
                                "100.00", "0.00", adj("100.00", CO, "16"), adj("0.00", CO, "M127")
                            )
                        ],
                    ),
                )
            ),
        ],
        postings=[("applied", "denied")],
        claims={"RARC-1": Expect("denied", "0.00", "0.00", "100.00")},
        follow_ups={"RARC-1": [("attachment", "missing-records-remark")]},
        transactions=[None],
    ),
]
