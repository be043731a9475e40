"""A made-up ledger to show the worklist: for ``make run``, the screenshots and the tests.

Every name, number and date here is invented. The rows are written straight into the ledger's
tables in the shapes the ledger writes them (parked payments carry a claim payment message's
JSON with the fields the worklist reads).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.ledger.store import ClaimLedger
from handlers.ledger.tables import (
    AppliedPayment,
    Claim,
    FollowUp,
    ParkedPayment,
    PaymentReceipt,
    Reconciliation,
    TimelineEvent,
    TransactionResult,
)
from worklist.followup_state import insert_attachments, insert_status_checks

__all__ = ["DemoLedger", "seed_demo_ledger"]

PAYERS = (
    "Northwind Health Plan",
    "Contoso Mutual Insurance",
    "Fabrikam Medicare Advantage",
    "Tailspin Dental PPO",
)
_FIRST = ("Ada", "Ben", "Chloé", "Dmitri", "Eun-ji", "Farah", "Goran", "Hana", "Ivo", "Jules")
_LAST = ("Okafor", "Lindqvist", "Núñez", "Haddad", "Kowalski", "Tanaka", "Brennan", "Osei")
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def payment_json(
    *, message_id: str, claim_number: str, payer: str, paid: Decimal, test: bool = False
) -> str:
    """The parts of a claim payment message (router/messages.py) that the worklist reads."""
    return json.dumps(
        {
            "schema": "claimflow.claim-payment.v1",
            "message_id": message_id,
            "delivery": {"log_id": f"demo-{message_id}", "test": test},
            "transaction": {"ID": f"EFT{message_id[-6:]}", "Submitter": {"Name": payer}},
            "claim": {"SubmissionNumber": claim_number, "PaymentAmount": format(paid, "f")},
        }
    )


class DemoLedger:
    """Builds the demo rows; ``ids`` names the claims the screenshots and tests open."""

    def __init__(self, seed: int = 7) -> None:
        self.random = random.Random(seed)  # noqa: S311 - made-up demo data, not security
        self.ids: dict[str, int] = {}

    def _money(self, low: int, high: int) -> Decimal:
        return (Decimal(self.random.randrange(low * 100, high * 100)) / 100).quantize(
            Decimal("0.01")
        )

    def _claim(self, index: int, status: str, charged: Decimal, paid: Decimal) -> Claim:
        service = date(2026, 10, 1) + timedelta(days=index % 28)
        return Claim(
            claim_number=f"CLM-2026-{10400 + index:05d}",
            claim_key=f"CLM2026{10400 + index:05d}",
            payer_id=f"PAYER{index % len(PAYERS)}",
            payer_name=PAYERS[index % len(PAYERS)],
            provider_name="Lakeside Family Practice",
            provider_npi="1234567893",
            patient_first_name=_FIRST[index % len(_FIRST)],
            patient_last_name=_LAST[index % len(_LAST)],
            patient_last_key=_LAST[index % len(_LAST)].upper(),
            patient_dob=date(1950 + index % 50, 1 + index % 12, 1 + index % 27),
            member_id=f"MBR{900000 + index}",
            service_start=service,
            service_end=service,
            submitted_on=service + timedelta(days=3),
            charged_amount=charged,
            paid_amount=paid,
            patient_responsibility=Decimal("0.00"),
            adjusted_amount=Decimal("0.00"),
            status=status,
            source="demo",
            created_at=START + timedelta(hours=index),
            updated_at=START + timedelta(hours=index, minutes=30),
        )

    async def write(self, engine: AsyncEngine) -> dict[str, int]:
        ledger = ClaimLedger(engine)
        async with ledger.unit() as unit:
            claims: list[Claim] = []
            for index in range(24):
                charged = self._money(90, 2400)
                status, paid = "paid_in_full", charged
                if index % 6 == 1:
                    status, paid = "denied", Decimal("0.00")
                elif index % 6 == 2:
                    status, paid = (
                        "partially_paid",
                        (charged * Decimal("0.6")).quantize(Decimal("0.01")),
                    )
                elif index % 8 == 3:
                    status, paid = "paid_in_full", charged + self._money(20, 300)
                claim = self._claim(index, status, charged, paid)
                if status == "partially_paid":
                    claim.patient_responsibility = (charged * Decimal("0.1")).quantize(
                        Decimal("0.01")
                    )
                    claim.adjusted_amount = (charged * Decimal("0.2")).quantize(Decimal("0.01"))
                claims.append(claim)
                unit.add(claim)
            await unit.flush()
            for claim in claims:
                self._history(unit, claim)
            self.ids["denied"] = claims[1].id
            self.ids["partial"] = claims[2].id
            self.ids["overpaid"] = claims[3].id
            self._busy_claim(unit, claims[2])
            await unit.flush()
            self._parked(unit, claims)
            self._unbalanced(unit, claims)
            await unit.flush()
        await self._partners(engine, claims)
        return self.ids

    async def _partners(self, engine: AsyncEngine, claims: list[Claim]) -> None:
        """Status checks and attachments as their handlers leave them (the follow-up tables)."""
        at = START + timedelta(days=13)

        def check(
            claim: Claim, n: int, state: str, result: dict[str, Any] | None
        ) -> dict[str, Any]:
            return {
                "command_id": f"demo-sc-{claim.id}-{n}",
                "claim_id": str(claim.id),
                "submission_number": claim.claim_number,
                "state": state,
                "integrex_request_id": f"IGX-{4100 + claim.id}",
                "result": None
                if result is None
                else {
                    "schema": "claimflow.status-check-result.v1",
                    "command_id": f"demo-sc-{claim.id}-{n}",
                    "claim_id": str(claim.id),
                    "submission_number": claim.claim_number,
                    "answered_at": (at + timedelta(hours=n)).isoformat(),
                    **result,
                },
                "attempts": 1,
                "lane": "production",
                "created_at": at + timedelta(hours=n),
                "updated_at": at + timedelta(hours=n, minutes=2),
            }

        def attachment(claim: Claim, n: int, state: str, violations: list[str]) -> dict[str, Any]:
            acn = f"DEMOACN{claim.id:04d}{n}"
            outcome = {"needs_review": "pending", "rejected": "rejected", "failed": "failed"}
            return {
                "attachment_control_number": acn,
                "command_id": f"demo-at-{claim.id}-{n}",
                "loinc_codes": "11506-3,18842-5",
                "claim_id": str(claim.id),
                "submission_number": claim.claim_number,
                "request_number": "",
                "solicited": False,
                "state": state,
                "availity_request_id": None,
                "result": {
                    "schema": "claimflow.attachment-result.v1",
                    "command_id": f"demo-at-{claim.id}-{n}",
                    "claim_id": str(claim.id),
                    "submission_number": claim.claim_number,
                    "outcome": outcome.get(state, "accepted"),
                    "attachment_control_number": acn,
                    "status": "needs_review" if state == "needs_review" else None,
                    "violations": violations,
                    "finished_at": (at + timedelta(hours=n)).isoformat(),
                },
                "attempts": 1,
                "lane": "production",
                "created_at": at + timedelta(hours=n),
                "updated_at": at + timedelta(hours=n, minutes=5),
            }

        denied = [c for c in claims if c.status == "denied"]
        checks = [
            check(
                denied[0],
                1,
                "answered",
                {
                    "outcome": "answered",
                    "category_code": "F2",
                    "category_meaning": "Finalized/Denial",
                    "status_code": "16",
                    "status_meaning": "Claim lacks information",
                },
            ),
            check(
                denied[1],
                2,
                "answered",
                {
                    "outcome": "answered",
                    "category_code": "R1",
                    "category_meaning": "Requests for additional information",
                    "status_code": "294",
                    "status_meaning": "Supporting documentation",
                    "needs_documents": True,
                },
            ),
            check(denied[2], 3, "unknown", None),
            check(
                claims[5],
                4,
                "answered",
                {
                    "outcome": "answered",
                    "category_code": "P1",
                    "category_meaning": "Pending/In Process",
                },
            ),
        ]
        unsure = "reconciliation: sent without a confirmation; not re-sent, a person must check"
        attachments = [
            attachment(claims[2], 1, "needs_review", [unsure]),
            attachment(denied[1], 2, "needs_review", [unsure]),
            attachment(denied[3], 3, "rejected", ["payload[0].fileName: unsupported file type"]),
        ]
        self.ids["partner_answered"] = denied[0].id
        self.ids["attachment_unknown"] = claims[2].id
        async with engine.begin() as connection:
            await insert_status_checks(connection, checks)
            await insert_attachments(connection, attachments)

    def _history(self, unit: Any, claim: Claim) -> None:
        at = claim.created_at
        unit.add(TimelineEvent(claim_id=claim.id, at=at, kind="submitted",
                               summary="Claim imported from the practice system"))  # fmt: skip
        if claim.status == "submitted":
            return
        message_id = f"demo-pay-{claim.id}"
        unit.add(
            AppliedPayment(
                message_id=message_id,
                claim_id=claim.id,
                control_number=f"PCN{7000 + claim.id}",
                status_text="Denied" if claim.status == "denied" else "Processed as Primary",
                outcome=claim.status,
                charged_amount=claim.charged_amount,
                paid_amount=claim.paid_amount,
                patient_responsibility=claim.patient_responsibility,
                adjusted_amount=claim.adjusted_amount,
                adjustments=[],
                match_method="claim_number",
                match_confidence=Decimal("1.0"),
                paid_at=at + timedelta(days=9),
                applied_at=at + timedelta(days=9, minutes=5),
            )
        )
        words = claim.status.replace("_", " ")
        unit.add(TimelineEvent(claim_id=claim.id, at=at + timedelta(days=9, minutes=5),
                               kind="posted", summary=f"Payment of {claim.paid_amount} posted: "
                               f"{words}", message_id=message_id))  # fmt: skip
        if claim.status == "denied":
            unit.add(
                FollowUp(
                    command_id=f"demo-fu-{claim.id}",
                    claim_id=claim.id,
                    action="status_check",
                    rule="denied-claim-status-check",
                    reason="Denied with CARC 16 (claim lacks information): ask the payer why",
                    trigger_message_id=message_id,
                    created_at=at + timedelta(days=9, minutes=6),
                )
            )
            unit.add(TimelineEvent(claim_id=claim.id, at=at + timedelta(days=9, minutes=6),
                                   kind="follow-up", summary="Status check requested from "
                                   "Integrex: denied with CARC 16"))  # fmt: skip

    def _busy_claim(self, unit: Any, claim: Claim) -> None:
        """2,000 identical review lines, as a redelivered remittance once caused."""
        at = claim.created_at + timedelta(days=10)
        for minute in range(2000):
            unit.add(TimelineEvent(claim_id=claim.id, at=at + timedelta(seconds=minute),
                                   kind="review", summary="Payment held for review: matched "
                                   "by patient details only"))  # fmt: skip

    def _parked(self, unit: Any, claims: list[Claim]) -> None:
        for index in range(18):
            reason = "needs_review" if index % 3 else "unmatched"
            number = f"CLM-2026-{20400 + index:05d}"
            message_id = f"demo-parked-{index:04d}"
            candidates = [claims[index % 24].id, claims[(index + 5) % 24].id][: 1 + index % 2]
            unit.add(
                ParkedPayment(
                    message_id=message_id,
                    reason=reason,
                    submission_key=number.replace("-", ""),
                    control_key=f"PCN{9000 + index}",
                    candidates=candidates if reason == "needs_review" else [],
                    payload=payment_json(
                        message_id=message_id,
                        claim_number=number,
                        payer=PAYERS[index % len(PAYERS)],
                        paid=self._money(40, 1800),
                        test=index % 7 == 6,
                    ),
                    parked_at=START + timedelta(days=index % 20, hours=index),
                )
            )

    def _unbalanced(self, unit: Any, claims: list[Claim]) -> None:
        for index in (4, 9, 15):
            claim = claims[index]
            unit.add(
                PaymentReceipt(
                    message_id=f"demo-pay-{claim.id}",
                    fingerprint=f"demo-fingerprint-{claim.id}",
                    delivery_id=f"demo-delivery-{claim.id}",
                    transaction_index=0,
                    claims_in_batch=1,
                    paid_amount=claim.paid_amount,
                    state="posted",
                    outcome=claim.status,
                    claim_id=claim.id,
                    payload=payment_json(
                        message_id=f"demo-pay-{claim.id}",
                        claim_number=claim.claim_number,
                        payer=claim.payer_name or "",
                        paid=claim.paid_amount,
                    ),
                    received_at=claim.created_at + timedelta(days=9),
                )
            )
            unit.add(
                Reconciliation(
                    message_id=f"demo-pay-{claim.id}",
                    claim_id=claim.id,
                    outcome=claim.status,
                    match_status="matched",
                    match_method="claim_number",
                    match_confidence=Decimal("1.0"),
                    balanced=False,
                    differences=[
                        {
                            "check": "claim_balance",
                            "where": "claim",
                            "expected": format(claim.charged_amount, "f"),
                            "actual": format(claim.charged_amount - Decimal("25.00"), "f"),
                            "difference": "-25.00",
                        }
                    ],
                    flags=["reconciliation_difference"],
                    created_at=claim.created_at + timedelta(days=9),
                )
            )
        unit.add(
            TransactionResult(
                delivery_id="demo-delivery-1",
                transaction_index=0,
                transaction_id="EFT-88412",
                total_amount=Decimal("4210.00"),
                payments_amount=Decimal("4185.00"),
                balanced=False,
                differences=[],
                created_at=START + timedelta(days=12),
            )
        )


async def seed_demo_ledger(engine: AsyncEngine, seed: int = 7) -> dict[str, int]:
    """Write the demo ledger into a migrated, empty database; the ids of notable claims."""
    return await DemoLedger(seed).write(engine)


_SAMPLE = (
    Path(__file__).resolve().parent.parent / "sandboxes" / "data" / "redox-claim-paymentbatch.json"
)


async def seed_review_example(engine: AsyncEngine) -> dict[str, int]:
    """A payment a person can post: Redox's sample payment with its claim number mistyped,
    parked for review with the one claim its patient details match (posted through the
    ledger's own rules). Returns the claim's id and the review item's id."""
    from handlers.ledger.followup_rules import load_rules
    from handlers.ledger.intake import NewClaim
    from handlers.ledger.posting import Poster
    from router.messages import ClaimPaymentMessage, split_payment_batch
    from router.redox import PaymentBatch

    payload = json.loads(_SAMPLE.read_text())
    transaction = payload["Transactions"][0]
    payment = transaction["Payments"][0]
    payment["Claims"] = payment["Claims"][:1]
    payment["Claims"][0]["SubmissionNumber"] = "66729695983"  # two digits swapped
    payment["Claims"][0]["ControlNumber"] = "DEMO-PCN-4471"
    transaction["Payments"] = [payment]
    transaction["TotalPaymentAmount"] = payment["Claims"][0]["PaymentAmount"]
    payload["Meta"]["Logs"] = [{"ID": "demo-review-log", "AttemptID": "demo-review-attempt"}]
    demographics = payment["Patient"]["Demographics"]
    ledger = ClaimLedger(engine)
    poster = Poster(rules=load_rules())
    async with ledger.unit() as unit:
        claim, _ = await poster.add_claim(
            unit,
            NewClaim(
                claim_number="66729659983",
                charged_amount=Decimal("100.00"),
                payer_name="National Insurance Company of Redox",
                patient_first_name=demographics["FirstName"],
                patient_last_name=demographics["LastName"],
                patient_dob=date.fromisoformat(demographics["DOB"]),
            ),
            source="demo",
        )
    [split] = split_payment_batch(PaymentBatch.model_validate(payload), log_id="demo-review-log")
    message = ClaimPaymentMessage.model_validate_json(split.value)
    async with ledger.unit() as unit:
        await poster.post_payment(unit, message)
        parked = await unit.parked(message.message_id)
    if parked is None:  # pragma: no cover - the sample's patient always matches the claim
        raise RuntimeError("the demo payment was not parked for review")
    return {"review_claim": claim.id, "review_item": parked.id}
