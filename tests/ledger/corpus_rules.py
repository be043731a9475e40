"""Corpus cases for the posting rules of docs/ledger.md, as a billing office meets them.

Each case is a small story with money: who billed what, which payer sent which remittance, and
what the claim must show afterwards. They run with the rest of the corpus (test_corpus.py) on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.ledger.corpus import (
    CO,
    OA,
    PR,
    Batch,
    Case,
    Claims,
    Expect,
    adj,
    batch,
    claim,
    ledger_claim,
    service,
)

LAKESIDE = ("Lakeside Blue Shield", "94-1113")
MEDICAID = ("Lakeside Medicaid", "77-2220")


def paid_by(payload: dict[str, Any], payer: tuple[str, str]) -> dict[str, Any]:
    """The same remittance, sent by another payer (Submitter name and identifier)."""
    out = copy.deepcopy(payload)
    for transaction in out["Transactions"]:
        transaction["Submitter"]["Name"] = payer[0]
        transaction["Submitter"]["Identifiers"] = [{"ID": payer[1], "IDType": "TIN"}]
    return out


def for_patient(payload: dict[str, Any], first: str, last: str) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    for transaction in out["Transactions"]:
        for payment in transaction["Payments"]:
            payment["Patient"]["Demographics"]["FirstName"] = first
            payment["Patient"]["Demographics"]["LastName"] = last
    return out


# -- rule 1: coordination of benefits ---------------------------------------------------
_PRIMARY_2041 = claim(
    "MED-2041",
    control="LBS-88120",
    status="Processed as Primary, Forwarded to Additional Payer(s)",
    charged="250.00",
    paid="144.00",
    patient="36.00",
    services=[
        service(
            "250.00",
            "144.00",
            adj("70.00", CO, "45"),
            adj("36.00", PR, "Coinsurance amount"),
        )
    ],
)
_SECONDARY_2041 = claim(
    "MED-2041",
    control="MCD-5521",
    status="Processed as Secondary",
    charged="250.00",
    paid="36.00",
    patient="0.00",
    services=[
        service(
            "250.00",
            "36.00",
            adj(
                "214.00",
                OA,
                "The impact of prior payer(s) adjudication including payments and/or adjustments.",
            ),
        )
    ],
)


def _er_5120(control: str, number: str = "ER-5120") -> dict[str, Any]:
    return claim(
        number,
        control=control,
        charged="300.00",
        paid="240.00",
        patient="60.00",
        services=[service("300.00", "240.00", adj("60.00", PR, "2"))],
    )


RULE_CASES: list[Case] = [
    Case(
        name="cob_secondary_pays_the_coinsurance_patient_owes_nothing",
        steps=[
            Claims([ledger_claim("MED-2041", "250.00")]),
            Batch(paid_by(batch("log-2041-pri", _PRIMARY_2041), LAKESIDE)),
            Batch(paid_by(batch("log-2041-sec", _SECONDARY_2041), MEDICAID)),
        ],
        postings=[("applied", "forwarded"), ("applied", "paid_in_full")],
        claims={"MED-2041": Expect("paid_in_full", "180.00", "0.00", "70.00")},
        transactions=[None, None],
    ),
    Case(
        name="cob_secondary_arrives_before_the_primary_same_end",
        steps=[
            Claims([ledger_claim("MED-2041", "250.00")]),
            Batch(paid_by(batch("log-2041-sec", _SECONDARY_2041), MEDICAID)),
            Batch(paid_by(batch("log-2041-pri", _PRIMARY_2041), LAKESIDE)),
        ],
        postings=[("applied", "paid_in_full"), ("applied", "forwarded")],
        claims={"MED-2041": Expect("paid_in_full", "180.00", "0.00", "70.00")},
        transactions=[None, None],
    ),
    Case(
        name="cob_secondary_leaves_the_patient_a_copay",
        steps=[
            Claims([ledger_claim("MED-3307", "180.00")]),
            Batch(
                paid_by(
                    batch(
                        "log-3307-pri",
                        claim(
                            "MED-3307",
                            control="LBS-90211",
                            charged="180.00",
                            paid="100.00",
                            patient="50.00",
                            services=[
                                service(
                                    "180.00",
                                    "100.00",
                                    adj("30.00", CO, "45"),
                                    adj("50.00", PR, "1 - Deductible Amount"),
                                )
                            ],
                        ),
                    ),
                    LAKESIDE,
                )
            ),
            Batch(
                paid_by(
                    batch(
                        "log-3307-sec",
                        claim(
                            "MED-3307",
                            control="MCD-7710",
                            status="2",
                            charged="180.00",
                            paid="30.00",
                            patient="20.00",
                            services=[
                                service(
                                    "180.00",
                                    "30.00",
                                    adj("130.00", "OA - Other Adjustments", "23"),
                                    adj("20.00", "PR - Patient Responsibility", "3"),
                                )
                            ],
                        ),
                    ),
                    MEDICAID,
                )
            ),
        ],
        postings=[("applied", "paid_in_full"), ("applied", "paid_in_full")],
        claims={"MED-3307": Expect("paid_in_full", "130.00", "20.00", "30.00")},
        transactions=[None, None],
    ),
    # -- rule 2: duplicates and running totals ------------------------------------------
    Case(
        name="reissued_check_for_the_same_claim_is_held_not_posted",
        steps=[
            Claims([ledger_claim("OFF-7781", "120.00")]),
            Batch(
                batch(
                    "log-7781-check-1",
                    claim(
                        "OFF-7781",
                        control="ICN-4410",
                        charged="120.00",
                        paid="96.00",
                        patient="24.00",
                        services=[service("120.00", "96.00", adj("24.00", PR, "2"))],
                    ),
                )
            ),
            Batch(
                batch(
                    "log-7781-check-2",
                    claim(
                        "OFF-7781",
                        control="ICN-4410",
                        charged="120.00",
                        paid="96.00",
                        patient="24.00",
                        services=[service("120.00", "96.00", adj("24.00", PR, "2"))],
                    ),
                )
            ),
        ],
        postings=[("applied", "paid_in_full"), ("review", "needs_review")],
        claims={"OFF-7781": Expect("paid_in_full", "96.00", "24.00", "0.00")},
        follow_ups={"OFF-7781": [("work_by_hand", "possible-duplicate")]},
        transactions=[None, None],
        flags=["possible_duplicate"],
    ),
    Case(
        # Both plans believe they are primary: each payment adds up alone, together they pay
        # 480.00 on a 300.00 claim whose patient still owes 60.00: 240.00 to refund.
        name="two_payments_each_fine_alone_overpay_the_claim",
        steps=[
            Claims([ledger_claim("ER-5120", "300.00")]),
            Batch(paid_by(batch("log-5120-a", _er_5120("ICN-A-1")), LAKESIDE)),
            Batch(paid_by(batch("log-5120-b", _er_5120("MCD-B-7")), MEDICAID)),
        ],
        postings=[("applied", "paid_in_full"), ("applied", "paid_in_full")],
        claims={"ER-5120": Expect("overpaid", "480.00", "60.00", "0.00")},
        follow_ups={"ER-5120": [("work_by_hand", "credit-balance")]},
        transactions=[None, None],
        flags=["credit_balance"],
    ),
    Case(
        # The same plan pays the whole claim again under a new claim control number: the
        # money is counted twice, the patient's share once: 240.00 to refund.
        name="same_payer_paying_the_whole_claim_twice_leaves_a_credit_balance",
        steps=[
            Claims([ledger_claim("ER-5121", "300.00")]),
            Batch(paid_by(batch("log-5121-a", _er_5120("ICN-C-1", "ER-5121")), LAKESIDE)),
            Batch(paid_by(batch("log-5121-b", _er_5120("ICN-C-2", "ER-5121")), LAKESIDE)),
        ],
        postings=[("applied", "paid_in_full"), ("applied", "paid_in_full")],
        claims={"ER-5121": Expect("overpaid", "480.00", "60.00", "0.00")},
        follow_ups={"ER-5121": [("work_by_hand", "credit-balance")]},
        transactions=[None, None],
        flags=["credit_balance"],
    ),
    # -- rule 3: reversals ---------------------------------------------------------------
    Case(
        name="reversal_of_a_payment_the_ledger_never_had_goes_to_review",
        steps=[
            Claims([ledger_claim("LAB-0917", "95.00")]),
            Batch(
                batch(
                    "log-0917-rev",
                    claim(
                        "LAB-0917",
                        control="ICN-OLD-3",
                        status="22",
                        charged="-95.00",
                        paid="-95.00",
                        patient="0.00",
                        services=[service("-95.00", "-95.00")],
                    ),
                )
            ),
        ],
        postings=[("review", "needs_review")],
        claims={"LAB-0917": Expect("submitted", "0.00", "0.00", "0.00")},
        follow_ups={"LAB-0917": [("work_by_hand", "reversal-without-original")]},
        transactions=[None],
        flags=["reversal_without_original"],
    ),
    Case(
        name="reversal_by_negative_amounts_then_corrected_payment",
        steps=[
            Claims([ledger_claim("PT-6610", "200.00")]),
            Batch(
                batch(
                    "log-6610-1",
                    claim(
                        "PT-6610",
                        control="ICN-6610",
                        charged="200.00",
                        paid="150.00",
                        patient="50.00",
                        services=[service("200.00", "150.00", adj("50.00", PR, "2"))],
                    ),
                )
            ),
            Batch(
                batch(
                    "log-6610-2",
                    claim(
                        "PT-6610",
                        control="ICN-6610",
                        charged="-200.00",
                        paid="-150.00",
                        patient="-50.00",
                        services=[service("-200.00", "-150.00", adj("-50.00", PR, "2"))],
                    ),
                    claim(
                        "PT-6610",
                        control="ICN-6611",
                        charged="200.00",
                        paid="170.00",
                        patient="30.00",
                        services=[service("200.00", "170.00", adj("30.00", PR, "3"))],
                    ),
                    total="20.00",
                )
            ),
        ],
        postings=[
            ("applied", "paid_in_full"),
            ("applied", "reversed"),
            ("applied", "paid_in_full"),
        ],
        claims={"PT-6610": Expect("paid_in_full", "170.00", "30.00", "0.00")},
        transactions=[None, None],
    ),
    # -- rule 4: zero pay is not always a denial -------------------------------------------
    Case(
        name="zero_pay_all_to_the_deductible_is_owed_by_the_patient",
        steps=[
            Claims([ledger_claim("OV-1185", "85.00")]),
            Batch(
                batch(
                    "log-1185",
                    claim(
                        "OV-1185",
                        charged="85.00",
                        paid="0.00",
                        patient="85.00",
                        services=[
                            service(
                                "85.00",
                                "0.00",
                                adj("85.00", "Patient Responsibility", "Deductible Amount"),
                            )
                        ],
                    ),
                )
            ),
        ],
        postings=[("applied", "patient_responsibility")],
        claims={"OV-1185": Expect("patient_responsibility", "0.00", "85.00", "0.00")},
        transactions=[None],
    ),
    Case(
        name="zero_pay_deductible_after_fee_schedule_is_no_denial",
        steps=[
            Claims([ledger_claim("MRI-2202", "200.00")]),
            Batch(
                batch(
                    "log-2202",
                    claim(
                        "MRI-2202",
                        charged="200.00",
                        paid="0.00",
                        patient="140.00",
                        services=[
                            service(
                                "200.00", "0.00", adj("60.00", CO, "45"), adj("140.00", PR, "1")
                            )
                        ],
                    ),
                )
            ),
        ],
        postings=[("applied", "patient_responsibility")],
        claims={"MRI-2202": Expect("patient_responsibility", "0.00", "140.00", "60.00")},
        transactions=[None],
    ),
    Case(
        name="processed_but_precertification_absent_on_the_whole_charge_is_a_denial",
        steps=[
            Claims([ledger_claim("SX-4471", "500.00")]),
            Batch(
                batch(
                    "log-4471",
                    claim(
                        "SX-4471",
                        charged="500.00",
                        paid="0.00",
                        patient="0.00",
                        services=[
                            service(
                                "500.00",
                                "0.00",
                                adj(
                                    "500.00",
                                    CO,
                                    "Precertification/notification/authorization/"
                                    "pre-treatment absent.",
                                ),
                            )
                        ],
                    ),
                )
            ),
        ],
        postings=[("applied", "denied")],
        claims={"SX-4471": Expect("denied", "0.00", "0.00", "500.00")},
        follow_ups={"SX-4471": [("status_check", "denied-without-documentation-reason")]},
        transactions=[None],
    ),
    Case(
        name="co16_denial_with_an_unlisted_remark_is_worked_by_hand",
        steps=[
            Claims([ledger_claim("DME-3090", "310.00")]),
            Batch(
                batch(
                    "log-3090",
                    claim(
                        "DME-3090",
                        status="4 - Denied",
                        charged="310.00",
                        paid="0.00",
                        patient="0.00",
                        adjustments=[
                            adj(
                                "310.00",
                                "CO - Contractual Obligations",
                                "16 - Claim/service lacks information or has "
                                "submission/billing error(s). MA130",
                            )
                        ],
                        services=[],
                    ),
                )
            ),
        ],
        postings=[("applied", "denied")],
        claims={"DME-3090": Expect("denied", "0.00", "0.00", "310.00")},
        follow_ups={"DME-3090": [("work_by_hand", "lacks-information")]},
        transactions=[None],
    ),
    # -- rule 5: partial and split payments ------------------------------------------------
    Case(
        name="split_claim_is_partially_paid_until_the_last_lines_are_paid",
        steps=[
            Claims([ledger_claim("PHY-8002", "400.00")]),
            Batch(
                batch(
                    "log-8002-a",
                    claim(
                        "PHY-8002",
                        control="ICN-8002-1",
                        charged="300.00",
                        paid="240.00",
                        patient="60.00",
                        services=[
                            service("200.00", "160.00", adj("40.00", PR, "2")),
                            service("100.00", "80.00", adj("20.00", PR, "2")),
                        ],
                    ),
                )
            ),
            Batch(
                batch(
                    "log-8002-b",
                    claim(
                        "PHY-8002",
                        control="ICN-8002-2",
                        charged="100.00",
                        paid="80.00",
                        patient="0.00",
                        services=[service("100.00", "80.00", adj("20.00", CO, "45"))],
                    ),
                )
            ),
        ],
        postings=[("applied", "paid_in_full"), ("applied", "paid_in_full")],
        claims={"PHY-8002": Expect("paid_in_full", "320.00", "60.00", "20.00")},
        transactions=[None, None],
    ),
    Case(
        name="open_balance_after_one_payment_is_partially_paid",
        steps=[
            Claims([ledger_claim("PHY-8003", "400.00")]),
            Batch(
                batch(
                    "log-8003-a",
                    claim(
                        "PHY-8003",
                        control="ICN-8003-1",
                        charged="300.00",
                        paid="240.00",
                        patient="60.00",
                        services=[
                            service("200.00", "160.00", adj("40.00", PR, "2")),
                            service("100.00", "80.00", adj("20.00", PR, "2")),
                        ],
                    ),
                )
            ),
        ],
        postings=[("applied", "paid_in_full")],
        claims={"PHY-8003": Expect("partially_paid", "240.00", "60.00", "0.00")},
        transactions=[None],
    ),
    # -- rule 6: nothing parked for ever -----------------------------------------------------
    Case(
        name="payment_waiting_for_review_posts_when_its_real_claim_arrives",
        steps=[
            Claims([ledger_claim("CLN-1001"), ledger_claim("CLN-1002")]),
            Batch(batch("log-1003", claim("CLN-1003"))),
            Claims([ledger_claim("CLN-1003")]),
        ],
        postings=[("review", "needs_review"), ("applied", "paid_in_full")],
        claims={
            "CLN-1001": Expect("submitted", "0.00", "0.00", "0.00"),
            "CLN-1003": Expect("paid_in_full", "80.00", "20.00", "0.00"),
        },
        transactions=[None],
        match_methods=["demographic", "submission_number"],
    ),
    Case(
        name="unmatched_payment_is_reranked_then_posted_when_its_claim_arrives",
        steps=[
            Batch(batch("log-2003", claim("CLN-2003"))),
            Claims([ledger_claim("CLN-2001")]),
            Claims([ledger_claim("CLN-2003")]),
        ],
        postings=[
            ("parked", "unmatched"),
            ("review", "needs_review"),
            ("applied", "paid_in_full"),
        ],
        claims={
            "CLN-2001": Expect("submitted", "0.00", "0.00", "0.00"),
            "CLN-2003": Expect("paid_in_full", "80.00", "20.00", "0.00"),
        },
        transactions=[None],
        match_methods=["none", "demographic", "submission_number"],
    ),
    # -- rule 7: matching keys ---------------------------------------------------------------
    Case(
        name="claim_number_with_case_spaces_and_leading_zeros_matches_normalised",
        steps=[
            Claims([ledger_claim("ACCT-000451")]),
            Batch(batch("log-451", claim("acct 451"))),
        ],
        postings=[("applied", "paid_in_full")],
        claims={"ACCT-000451": Expect("paid_in_full", "80.00", "20.00", "0.00")},
        transactions=[None],
        match_methods=["submission_number_normalised"],
    ),
    Case(
        name="two_claims_normalising_alike_send_the_payment_to_review",
        steps=[
            Claims([ledger_claim("INV-0099"), ledger_claim("inv99", "140.00")]),
            Batch(batch("log-inv99", claim("INV 99"))),
        ],
        postings=[("review", "needs_review")],
        claims={
            "INV-0099": Expect("submitted", "0.00", "0.00", "0.00"),
            "inv99": Expect("submitted", "0.00", "0.00", "0.00"),
        },
        transactions=[None],
        match_methods=["submission_number_normalised"],
    ),
    Case(
        name="accented_patient_name_is_the_same_person_folded",
        steps=[
            Claims(
                [
                    ledger_claim(
                        "ORT-7001", patient_first_name="ASE", patient_last_name="NUNEZ-ODEGARD"
                    )
                ]
            ),
            Batch(for_patient(batch("log-7001", claim("ORT-70O1")), "Åse", "Núñez-Ødegård")),
        ],
        postings=[("review", "needs_review")],
        claims={"ORT-7001": Expect("submitted", "0.00", "0.00", "0.00")},
        transactions=[None],
        match_methods=["demographic"],
    ),
]
